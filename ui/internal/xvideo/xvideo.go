// Package xvideo shows video frames in X11 child windows laid over the
// kiosk's window, so that a new frame is a copy into the X server instead
// of a repaint of the whole window. Fyne repaints every object of a window
// whenever anything in it changes; without a GPU (Mesa's llvmpipe: a lab PC
// without a GPU driver, a virtual display) 30 repaints a second of a
// 960x540 window cost the kiosk more than encoding and decoding its video.
//
// A Window is a child of the kiosk's X11 window that the kiosk places over
// a video view; it takes no input (pointer events go through to the kiosk
// window, which selects them) and can have a rectangle cut out (a name
// plate drawn by Fyne shows through). Frames are scaled and put with the
// MIT-SHM extension where the server has it (a local display), with plain
// XPutImage otherwise. Each Display is its own connection to the X server,
// separate from the one Fyne's GLFW uses; its calls are serialised by a
// mutex, so a Window may be used from any goroutine.
package xvideo

/*
#cgo pkg-config: x11 xext
#cgo LDFLAGS: -lyuv
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/XShm.h>
#include <X11/extensions/shape.h>
#include <libyuv/convert_argb.h>
#include <libyuv/scale_argb.h>

// X reports a failed request (for example a parent window that is gone) by
// calling the error handler, whose default exits the process; the kiosk
// must not end for a video window, so errors are counted instead and
// checked after the synchronous calls that matter. The handler is one for
// the process, and GLFW sets it back to the default after each of its own
// checked calls: it is installed again before each of ours.
static int parley_x_errors;
static int parley_x_last[3]; // the last error's code, request and minor request
static int parley_x_error(Display *d, XErrorEvent *e) {
	parley_x_errors++;
	parley_x_last[0] = e->error_code; parley_x_last[1] = e->request_code; parley_x_last[2] = e->minor_code;
	return 0;
}
static int parley_x_take_errors(void) {
	XSetErrorHandler(parley_x_error);
	int n = parley_x_errors;
	parley_x_errors = 0;
	return n;
}
static int parley_x_last_error(int i) { return parley_x_last[i]; }

static Window parley_x_child(Display *d, Window parent, int *depth, unsigned long *rmask, unsigned long *gmask, unsigned long *bmask, Visual **vis) {
	XWindowAttributes wa;
	if (!XGetWindowAttributes(d, parent, &wa)) return 0;
	*depth = wa.depth;
	*vis = wa.visual;
	*rmask = wa.visual->red_mask; *gmask = wa.visual->green_mask; *bmask = wa.visual->blue_mask;
	XSetWindowAttributes a;
	memset(&a, 0, sizeof(a));
	a.background_pixmap = None; // no clearing before a frame: no flicker
	a.event_mask = 0;           // pointer and key events go to the kiosk window
	a.colormap = wa.colormap;
	a.border_pixel = 0;
	return XCreateWindow(d, parent, 0, 0, 1, 1, 0, wa.depth, InputOutput, wa.visual,
		CWBackPixmap | CWEventMask | CWColormap | CWBorderPixel, &a);
}

static XImage *parley_x_shm_image(Display *d, Visual *vis, int depth, int w, int h, XShmSegmentInfo *si) {
	XImage *img = XShmCreateImage(d, vis, depth, ZPixmap, NULL, si, w, h);
	if (!img) return NULL;
	si->shmid = shmget(IPC_PRIVATE, img->bytes_per_line * img->height, IPC_CREAT | 0600);
	if (si->shmid < 0) { XDestroyImage(img); return NULL; }
	si->shmaddr = img->data = shmat(si->shmid, NULL, 0);
	si->readOnly = False;
	if (si->shmaddr == (char *)-1) { shmctl(si->shmid, IPC_RMID, NULL); img->data = NULL; XDestroyImage(img); return NULL; }
	parley_x_take_errors();
	XShmAttach(d, si);
	XSync(d, False);
	// Marked for removal now: the segment goes when both sides detach,
	// even if this process dies.
	shmctl(si->shmid, IPC_RMID, NULL);
	if (parley_x_take_errors()) { shmdt(si->shmaddr); img->data = NULL; XDestroyImage(img); return NULL; }
	return img;
}

static void parley_x_shm_free(Display *d, XImage *img, XShmSegmentInfo *si) {
	XShmDetach(d, si);
	XSync(d, False);
	shmdt(si->shmaddr);
	img->data = NULL;
	XDestroyImage(img);
}

static XImage *parley_x_image(Display *d, Visual *vis, int depth, int w, int h) {
	XImage *img = XCreateImage(d, vis, depth, ZPixmap, 0, NULL, w, h, 32, 0);
	if (!img) return NULL;
	img->data = malloc(img->bytes_per_line * h);
	if (!img->data) { XDestroyImage(img); return NULL; }
	return img;
}

// The window's shape: all of it but the hole.
static void parley_x_shape(Display *d, Window w, int width, int height, int hx, int hy, int hw, int hh) {
	XRectangle all = {0, 0, width, height};
	XShapeCombineRectangles(d, w, ShapeBounding, 0, 0, &all, 1, ShapeSet, Unsorted);
	if (hw > 0 && hh > 0) {
		XRectangle hole = {hx, hy, hw, hh};
		XShapeCombineRectangles(d, w, ShapeBounding, 0, 0, &hole, 1, ShapeSubtract, Unsorted);
	}
}

static void parley_x_destroy(XImage *img) { XDestroyImage(img); } // a macro in Xutil.h
static unsigned char *parley_x_data(XImage *img) { return (unsigned char *)img->data; }
static int parley_x_stride(XImage *img) { return img->bytes_per_line; }
static int parley_x_bpp(XImage *img) { return img->bits_per_pixel; }
static int parley_x_lsb(XImage *img) { return img->byte_order == LSBFirst; }
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"sync"
	"unsafe"
)

// Errors.
var (
	ErrNoDisplay = errors.New("xvideo: cannot open the X display")
	ErrVisual    = errors.New("xvideo: the window's visual is not 24-bit true colour")
	ErrX         = errors.New("xvideo: the X server refused a request")
	ErrClosed    = errors.New("xvideo: closed")
	// ErrGone: the window or its parent no longer exists (the kiosk's
	// window closes at exit while a frame is on its way).
	ErrGone = errors.New("xvideo: the window is gone")
)

// X error codes (X.h) that mean a window no longer exists.
const (
	xBadWindow   = 3
	xBadDrawable = 9
)

// Display is a connection to the X server for video windows.
type Display struct {
	mu  sync.Mutex
	dpy *C.Display
	shm bool
}

// Open connects to the X server named by $DISPLAY.
func Open() (*Display, error) {
	C.parley_x_take_errors()
	dpy := C.XOpenDisplay(nil)
	if dpy == nil {
		return nil, ErrNoDisplay
	}
	return &Display{dpy: dpy, shm: C.XShmQueryExtension(dpy) != 0}, nil
}

// SharedMemory reports whether frames go through MIT-SHM.
func (d *Display) SharedMemory() bool { return d.shm }

// root is the root window of the default screen.
func (d *Display) root() uintptr {
	d.mu.Lock()
	defer d.mu.Unlock()
	return uintptr(C.XDefaultRootWindow(d.dpy))
}

// Close closes the connection and with it every window made on it.
func (d *Display) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dpy != nil {
		C.XCloseDisplay(d.dpy)
		d.dpy = nil
	}
}

// Window is a video window over a part of a parent window.
type Window struct {
	d     *Display
	win   C.Window
	gc    C.GC
	depth C.int
	vis   *C.Visual
	above bool // raised over its siblings when shown (the self-view)

	img     *C.XImage
	si      C.XShmSegmentInfo
	imgSize image.Point
	scaled  []byte // a frame scaled to the window's size, before the channel swap

	at     image.Rectangle // where it is, in the parent's pixels
	hole   image.Rectangle // cut out, in the window's pixels
	mapped bool
}

// NewWindow makes an unmapped video window inside parent (an X11 window
// id, Fyne's driver.X11WindowContext.WindowHandle). A window made with
// above set is raised over its siblings each time it is shown; one
// without is lowered under them.
func (d *Display) NewWindow(parent uintptr, above bool) (*Window, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dpy == nil {
		return nil, ErrClosed
	}
	var depth C.int
	var rm, gm, bm C.ulong
	var vis *C.Visual
	C.parley_x_take_errors()
	win := C.parley_x_child(d.dpy, C.Window(parent), &depth, &rm, &gm, &bm, &vis)
	C.XSync(d.dpy, 0)
	if win == 0 || C.parley_x_take_errors() != 0 {
		return nil, lastError(fmt.Sprintf("no window inside %#x", parent))
	}
	// Frames are written as B, G, R, X bytes: 24 or 32 bits deep, 32 bits a
	// pixel, least significant byte first.
	if (depth != 24 && depth != 32) || rm != 0xff0000 || gm != 0xff00 || bm != 0xff {
		C.XDestroyWindow(d.dpy, win)
		return nil, fmt.Errorf("%w (depth %d, masks %#x %#x %#x)", ErrVisual, depth, rm, gm, bm)
	}
	gc := C.XCreateGC(d.dpy, C.Drawable(win), 0, nil)
	return &Window{d: d, win: win, gc: gc, depth: depth, vis: vis, above: above}, nil
}

// Place puts the window at r (in the parent's pixels) with hole (in r's
// coordinates; empty for none) cut out, and shows it if show is set and r
// is not empty; otherwise it hides it. The frame shown last is put again
// if the window kept its size; after a resize the next frame fills it.
func (w *Window) Place(r, hole image.Rectangle, show bool) error {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	if w.d.dpy == nil || w.win == 0 {
		return ErrClosed
	}
	dpy := w.d.dpy
	C.parley_x_take_errors() // the handler is ours from here
	show = show && !r.Empty()
	if !show {
		if w.mapped {
			C.XUnmapWindow(dpy, w.win)
			C.XFlush(dpy)
			w.mapped = false
		}
		return nil
	}
	moved := r != w.at || hole != w.hole
	if moved {
		C.XMoveResizeWindow(dpy, w.win, C.int(r.Min.X), C.int(r.Min.Y), C.uint(r.Dx()), C.uint(r.Dy()))
		h := hole.Intersect(image.Rect(0, 0, r.Dx(), r.Dy()))
		C.parley_x_shape(dpy, w.win, C.int(r.Dx()), C.int(r.Dy()), C.int(h.Min.X), C.int(h.Min.Y), C.int(h.Dx()), C.int(h.Dy()))
		w.at, w.hole = r, hole
	}
	if !w.mapped {
		C.XMapWindow(dpy, w.win)
		if w.above {
			C.XRaiseWindow(dpy, w.win)
		} else {
			C.XLowerWindow(dpy, w.win)
		}
		w.mapped = true
		moved = true
	}
	if moved && w.img != nil && w.imgSize == r.Size() {
		return w.send()
	}
	C.XFlush(dpy)
	return nil
}

// Show scales img to the window's size and puts it; it returns once the
// X server has it. A hidden window keeps it for when it is shown again;
// a window not placed yet drops it (it has no size).
func (w *Window) Show(img *image.RGBA) error {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	if w.d.dpy == nil || w.win == 0 {
		return ErrClosed
	}
	if err := w.fill(img); err != nil || !w.mapped || w.img == nil {
		return err
	}
	return w.send()
}

// fill writes img, scaled to the window's size, into the window's image:
// the frame stays there (the caller may reuse img) for send, now and when
// the window is shown again. Called with the display locked.
func (w *Window) fill(img *image.RGBA) error {
	size := w.at.Size()
	if size.X <= 0 || size.Y <= 0 || img.Rect.Empty() {
		return nil
	}
	if err := w.ensureImage(size); err != nil {
		return err
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(C.parley_x_data(w.img))), int(C.parley_x_stride(w.img))*size.Y)
	dstStride := int(C.parley_x_stride(w.img))
	src := img.Pix[img.PixOffset(img.Rect.Min.X, img.Rect.Min.Y):]
	sw, sh := img.Rect.Dx(), img.Rect.Dy()
	if len(src) < (sh-1)*img.Stride+4*sw {
		return fmt.Errorf("xvideo: a %dx%d frame with %d bytes", sw, sh, len(src))
	}
	srcStride := img.Stride
	if sw != size.X || sh != size.Y {
		// Scaled with the channels as they are (libyuv's ARGB scaler moves
		// 4-byte pixels), then swapped into the X image.
		n := 4 * size.X * size.Y
		if cap(w.scaled) < n {
			w.scaled = make([]byte, n)
		}
		w.scaled = w.scaled[:n]
		C.ARGBScale(ptr(src), C.int(srcStride), C.int(sw), C.int(sh),
			ptr(w.scaled), C.int(4*size.X), C.int(size.X), C.int(size.Y), C.kFilterBilinear)
		src, srcStride = w.scaled, 4*size.X
	}
	// image.RGBA is R, G, B, A in memory (libyuv's ABGR); the X image
	// wants B, G, R, X (libyuv's ARGB).
	C.ABGRToARGB(ptr(src), C.int(srcStride), ptr(dst), C.int(dstStride), C.int(size.X), C.int(size.Y))
	return nil
}

// send puts the window's image on screen. Called with the display locked
// and the image filled.
func (w *Window) send() error {
	dpy := w.d.dpy
	size := w.imgSize
	C.parley_x_take_errors()
	if w.d.shm {
		C.XShmPutImage(dpy, C.Drawable(w.win), w.gc, w.img, 0, 0, 0, 0, C.uint(size.X), C.uint(size.Y), 0)
	} else {
		C.XPutImage(dpy, C.Drawable(w.win), w.gc, w.img, 0, 0, 0, 0, C.uint(size.X), C.uint(size.Y))
	}
	// Synchronous: the next frame may overwrite the shared segment, and a
	// frame counts as shown when the server has drawn it.
	C.XSync(dpy, 0)
	if C.parley_x_take_errors() != 0 {
		return lastError("putting a frame")
	}
	return nil
}

// lastError is ErrX (ErrGone for a window that no longer exists) with
// what the X server said last.
func lastError(what string) error {
	if code := C.parley_x_last_error(0); code == xBadWindow || code == xBadDrawable {
		return fmt.Errorf("%w (%w): %s", ErrGone, ErrX, what)
	}
	return fmt.Errorf("%w: %s (X error %d, request %d.%d)", ErrX, what,
		C.parley_x_last_error(0), C.parley_x_last_error(1), C.parley_x_last_error(2))
}

// ensureImage has an X image of size ready. Called with the display locked.
func (w *Window) ensureImage(size image.Point) error {
	if w.img != nil && w.imgSize == size {
		return nil
	}
	w.freeImage()
	dpy := w.d.dpy
	if w.d.shm {
		w.img = C.parley_x_shm_image(dpy, w.vis, w.depth, C.int(size.X), C.int(size.Y), &w.si)
		if w.img == nil { // the server has MIT-SHM but cannot reach our segment (remote)
			w.d.shm = false
		}
	}
	if w.img == nil {
		w.img = C.parley_x_image(dpy, w.vis, w.depth, C.int(size.X), C.int(size.Y))
	}
	if w.img == nil {
		return fmt.Errorf("%w: no %dx%d image", ErrX, size.X, size.Y)
	}
	if C.parley_x_bpp(w.img) != 32 || C.parley_x_lsb(w.img) == 0 {
		w.freeImage()
		return fmt.Errorf("%w: the image is not 32 bits a pixel, least significant byte first", ErrVisual)
	}
	w.imgSize = size
	return nil
}

func (w *Window) freeImage() {
	if w.img == nil {
		return
	}
	if w.d.shm {
		C.parley_x_shm_free(w.d.dpy, w.img, &w.si)
	} else {
		C.parley_x_destroy(w.img) // frees the malloc'ed data too
	}
	w.img, w.imgSize = nil, image.Point{}
}

// Close destroys the window.
func (w *Window) Close() {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	if w.d.dpy == nil || w.win == 0 {
		return
	}
	C.parley_x_take_errors()
	w.freeImage()
	C.XFreeGC(w.d.dpy, w.gc)
	C.XDestroyWindow(w.d.dpy, w.win)
	C.XSync(w.d.dpy, 0)
	C.parley_x_take_errors() // the parent may be gone already
	w.win = 0
}

// ptr is the C view of a slice read or written during the call.
func ptr(b []byte) *C.uint8_t { return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b))) }
