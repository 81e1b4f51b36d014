package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/parley-lab/parley/signaling/export"
	"github.com/parley-lab/parley/signaling/protocol"
	"github.com/parley-lab/parley/signaling/store"
)

// maxAPIBody bounds a request body of the experimenter API.
const maxAPIBody = 1 << 20

func (s *Server) routes() {
	api := func(pattern string, h func(w http.ResponseWriter, r *http.Request) (any, error)) {
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if !s.authorized(r) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong admin token (Authorization: Bearer <token>)"})
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxAPIBody)
			v, err := h(w, r)
			if err != nil {
				writeJSON(w, statusOf(err), map[string]string{"error": err.Error()})
				return
			}
			if v != nil {
				writeJSON(w, http.StatusOK, v)
			}
		})
	}
	api("GET /api/rooms", func(w http.ResponseWriter, r *http.Request) (any, error) { return s.cfg.Rooms, nil })
	api("GET /api/sessions", func(w http.ResponseWriter, r *http.Request) (any, error) { return s.hub.SessionViews(), nil })
	api("POST /api/sessions", s.apiCreateSession)
	api("GET /api/sessions/{code}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.hub.SessionView(r.PathValue("code"))
	})
	api("POST /api/sessions/{code}/start", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.hub.StartSession(r.PathValue("code"))
	})
	api("POST /api/sessions/{code}/end", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.hub.EndSession(r.PathValue("code"))
	})
	api("GET /api/sessions/{code}/participants", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.hub.Participants(r.PathValue("code"))
	})
	api("GET /api/sessions/{code}/channels", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.hub.Channels(r.PathValue("code"))
	})
	api("GET /api/sessions/{code}/channels/{channel}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.hub.Channel(r.PathValue("code"), r.PathValue("channel"))
	})
	api("GET /api/sessions/{code}/channels/{channel}/messages", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.hub.ChannelMessages(r.PathValue("code"), r.PathValue("channel"))
	})
	api("POST /api/sessions/{code}/channels/{channel}/messages", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req struct {
			Body string `json:"body"`
			Role string `json:"role"` // experimenter (default) or system
		}
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.hub.PostMessage(r.PathValue("code"), r.PathValue("channel"), req.Role, req.Body)
	})
	api("GET /api/sessions/{code}/webhooks", func(w http.ResponseWriter, r *http.Request) (any, error) {
		if _, err := s.hub.SessionView(r.PathValue("code")); err != nil {
			return nil, err
		}
		hooks, err := s.st.Webhooks(r.PathValue("code"))
		if hooks == nil {
			hooks = []store.Webhook{}
		}
		return hooks, err
	})
	api("POST /api/sessions/{code}/webhooks", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req struct {
			URL     string `json:"url"`
			Channel string `json:"channel"`
		}
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.hub.AddWebhook(r.PathValue("code"), req.Channel, req.URL)
	})
	api("DELETE /api/webhooks/{id}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return map[string]string{"deleted": r.PathValue("id")}, s.hub.DeleteWebhook(r.PathValue("id"))
	})
	// The experimenter's controls (controls.go). {group} is a number as
	// `participants` shows, or "all" where that makes sense.
	api("POST /api/sessions/{code}/groups/{group}/end", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.hub.EndGroup(r.PathValue("code"), r.PathValue("group"))
	})
	api("POST /api/sessions/{code}/groups/{group}/time", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req struct {
			DeltaS float64 `json:"delta_s"`
		}
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		if req.DeltaS == 0 {
			return nil, fmt.Errorf("%w: delta_s: give the seconds to add (or, negative, to take away)", ErrBadRequest)
		}
		return s.hub.AdjustTime(r.PathValue("code"), r.PathValue("group"), time.Duration(req.DeltaS*float64(time.Second)))
	})
	api("POST /api/sessions/{code}/groups/{group}/pause", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.hub.PauseGroup(r.PathValue("code"), r.PathValue("group"))
	})
	api("POST /api/sessions/{code}/groups/{group}/resume", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.hub.ResumeGroup(r.PathValue("code"), r.PathValue("group"))
	})
	api("POST /api/sessions/{code}/participants/{who}/remove", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.hub.RemoveParticipant(r.PathValue("code"), r.PathValue("who"))
	})
	api("POST /api/sessions/{code}/pair", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req struct {
			Seats []string `json:"seats"`
		}
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.hub.PairByHand(r.PathValue("code"), req.Seats)
	})
	api("GET /api/export", s.apiExport)
	api("GET /api/sessions/{code}/export", s.apiExport)
}

func (s *Server) apiCreateSession(w http.ResponseWriter, r *http.Request) (any, error) {
	var req struct {
		Room     string          `json:"room"`
		Settings json.RawMessage `json:"settings"`
	}
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	return s.hub.CreateSession(req.Room, req.Settings)
}

func (s *Server) apiExport(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	o := export.Options{Session: r.PathValue("code"), Format: q.Get("format"), Kind: q.Get("kind"), Excel: q.Get("excel") == "1"}
	if o.Format == "" {
		o.Format = export.CSV
	}
	if o.Format != export.CSV && o.Format != export.JSONL {
		return nil, fmt.Errorf("%w %q: use csv or jsonl", export.ErrFormat, o.Format)
	}
	if o.Kind != "" && !export.ValidKind(o.Kind) {
		return nil, fmt.Errorf("%w %q: use messages, events or recordings", export.ErrKind, o.Kind)
	}
	if o.Excel && o.Format != export.CSV {
		return nil, fmt.Errorf("%w (format %q)", export.ErrExcel, o.Format)
	}
	if o.Session != "" {
		if _, err := s.hub.SessionView(o.Session); err != nil {
			return nil, err
		}
	}
	ct := "text/csv; charset=utf-8"
	if o.Format == export.JSONL {
		ct = "application/x-ndjson"
	}
	w.Header().Set("Content-Type", ct)
	if err := export.Write(w, s.st, o); err != nil {
		s.log.Error("export", "err", err)
	}
	return nil, nil
}

// decodeBody decodes an API request's JSON body into v, checked as the
// protocol checks a kiosk's frames: every string valid UTF-8 (never
// silently replaced), no unknown field, one JSON value; the refusal names
// the field in the protocol's words. An empty body leaves v as it is.
func decodeBody(r *http.Request, v any) error {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("%w: request body: it is larger than %d bytes", ErrBadRequest, maxAPIBody)
		}
		return fmt.Errorf("%w: request body: %v", ErrBadRequest, err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := protocol.CheckUTF8(raw); err != nil {
		return fmt.Errorf("%w: request body: %v", ErrBadRequest, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %s", ErrBadRequest, protocol.DescribeJSONError(err, ""))
	}
	if dec.More() {
		return fmt.Errorf("%w: request body: more than one JSON value", ErrBadRequest)
	}
	return nil
}

// ErrBadRequest wraps malformed API requests.
var ErrBadRequest = errors.New("bad request")

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrUnknownSession), errors.Is(err, ErrUnknownChannel), errors.Is(err, store.ErrNotFound),
		errors.Is(err, ErrUnknownGroup), errors.Is(err, ErrUnknownParticipant):
		return http.StatusNotFound
	case errors.Is(err, ErrSessionState), errors.Is(err, ErrGroupState):
		return http.StatusConflict
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrConfig), errors.Is(err, export.ErrFormat), errors.Is(err, export.ErrKind), errors.Is(err, export.ErrExcel):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
