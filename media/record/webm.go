package record

// The WebM (Matroska) bytes: EBML element encoding and the fixed parts of
// a segment (header, info, tracks). Only what Parley writes: VP8 and Opus
// tracks, SimpleBlocks in clusters, millisecond timecodes.

import (
	"encoding/binary"
	"math"
)

// Matroska element IDs (their encoded bytes, as the spec lists them).
const (
	idEBML            = 0x1A45DFA3
	idEBMLVersion     = 0x4286
	idEBMLReadVersion = 0x42F7
	idEBMLMaxIDLength = 0x42F2
	idEBMLMaxSizeLen  = 0x42F3
	idDocType         = 0x4282
	idDocTypeVersion  = 0x4287
	idDocTypeRead     = 0x4285
	idSegment         = 0x18538067
	idInfo            = 0x1549A966
	idTimecodeScale   = 0x2AD7B1
	idMuxingApp       = 0x4D80
	idWritingApp      = 0x5741
	idDuration        = 0x4489
	idVoid            = 0xEC
	idTracks          = 0x1654AE6B
	idTrackEntry      = 0xAE
	idTrackNumber     = 0xD7
	idTrackUID        = 0x73C5
	idTrackType       = 0x83
	idCodecID         = 0x86
	idCodecPrivate    = 0x63A2
	idCodecDelay      = 0x56AA
	idSeekPreRoll     = 0x56BB
	idVideo           = 0xE0
	idPixelWidth      = 0xB0
	idPixelHeight     = 0xBA
	idAudio           = 0xE1
	idSamplingFreq    = 0xB5
	idChannels        = 0x9F
	idCluster         = 0x1F43B675
	idTimecode        = 0xE7
	idSimpleBlock     = 0xA3
)

// Track numbers and types.
const (
	videoTrack     = 1
	audioTrack     = 2
	trackTypeVideo = 1
	trackTypeAudio = 2
)

// unknownSize is the 8-byte size of an element still being written (the
// segment, until Close patches it): players read such a file as live.
var unknownSize = []byte{0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}

// durationSlot is the bytes Info reserves for Duration: a Void element now,
// a Duration of the same length (ID 2, size 1, float64 8) at Close.
const durationSlot = 11

// opusPreSkip is libopus's encoder delay at 48 kHz, in samples (the
// decoder drops it at the start).
const opusPreSkip = 312

// appendID writes an element ID (IDs carry their own length marker).
func appendID(b []byte, id uint32) []byte {
	switch {
	case id >= 1<<24:
		return append(b, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
	case id >= 1<<16:
		return append(b, byte(id>>16), byte(id>>8), byte(id))
	case id >= 1<<8:
		return append(b, byte(id>>8), byte(id))
	}
	return append(b, byte(id))
}

// appendSize writes a data size as an EBML variable-length integer, in
// the fewest bytes that hold it (at most 8).
func appendSize(b []byte, n uint64) []byte {
	l := 1
	for l < 8 && n >= 1<<(7*l)-1 {
		l++
	}
	v := n | 1<<(7*l)
	for i := l - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// size8 is n as an 8-byte EBML size (patched in place at Close).
func size8(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n|1<<56)
	return b[:]
}

func appendElem(b []byte, id uint32, data []byte) []byte {
	b = appendID(b, id)
	b = appendSize(b, uint64(len(data)))
	return append(b, data...)
}

func appendUint(b []byte, id uint32, v uint64) []byte {
	var d []byte
	for i := 7; i >= 0; i-- {
		if c := byte(v >> (8 * i)); c != 0 || len(d) > 0 || i == 0 {
			d = append(d, c)
		}
	}
	return appendElem(b, id, d)
}

func appendFloat(b []byte, id uint32, v float64) []byte {
	var d [8]byte
	binary.BigEndian.PutUint64(d[:], math.Float64bits(v))
	return appendElem(b, id, d[:])
}

func appendString(b []byte, id uint32, s string) []byte {
	return appendElem(b, id, []byte(s))
}

// ebmlHeader is the file's first element: a WebM document, version 4
// (Opus's CodecDelay and SeekPreRoll).
func ebmlHeader() []byte {
	var h []byte
	h = appendUint(h, idEBMLVersion, 1)
	h = appendUint(h, idEBMLReadVersion, 1)
	h = appendUint(h, idEBMLMaxIDLength, 4)
	h = appendUint(h, idEBMLMaxSizeLen, 8)
	h = appendString(h, idDocType, "webm")
	h = appendUint(h, idDocTypeVersion, 4)
	h = appendUint(h, idDocTypeRead, 2)
	return appendElem(nil, idEBML, h)
}

// info is the segment's Info: millisecond timecodes, the writer, and the
// reserved Duration slot; durationAt is the slot's offset within it.
func info() (b []byte, durationAt int) {
	var d []byte
	d = appendUint(d, idTimecodeScale, 1_000_000)
	d = appendString(d, idMuxingApp, "parley")
	d = appendString(d, idWritingApp, "parley")
	slot := len(d)
	d = append(d, idVoid, 0x80|(durationSlot-2))
	d = append(d, make([]byte, durationSlot-2)...)
	b = appendElem(nil, idInfo, d)
	return b, len(b) - len(d) + slot
}

// durationElem is the Duration (in ms) that fills the reserved slot.
func durationElem(ms float64) []byte {
	return appendFloat(nil, idDuration, ms) // 2 + 1 + 8 = durationSlot
}

// opusHead is the Opus identification header (RFC 7845, 5.1) that WebM
// carries as the audio track's CodecPrivate.
func opusHead(channels int, rate int) []byte {
	h := []byte("OpusHead")
	h = append(h, 1, byte(channels))
	h = binary.LittleEndian.AppendUint16(h, opusPreSkip)
	h = binary.LittleEndian.AppendUint32(h, uint32(rate))
	h = binary.LittleEndian.AppendUint16(h, 0) // output gain
	return append(h, 0)                        // mapping family 0: mono or stereo
}

// tracks is the segment's Tracks for t.
func tracks(t Tracks) []byte {
	var d []byte
	if t.Video {
		var e []byte
		e = appendUint(e, idTrackNumber, videoTrack)
		e = appendUint(e, idTrackUID, videoTrack)
		e = appendUint(e, idTrackType, trackTypeVideo)
		e = appendString(e, idCodecID, "V_VP8")
		var v []byte
		v = appendUint(v, idPixelWidth, uint64(t.Width))
		v = appendUint(v, idPixelHeight, uint64(t.Height))
		e = appendElem(e, idVideo, v)
		d = appendElem(d, idTrackEntry, e)
	}
	if t.Audio {
		var e []byte
		e = appendUint(e, idTrackNumber, audioTrack)
		e = appendUint(e, idTrackUID, audioTrack)
		e = appendUint(e, idTrackType, trackTypeAudio)
		e = appendString(e, idCodecID, "A_OPUS")
		e = appendElem(e, idCodecPrivate, opusHead(t.Channels, 48000))
		e = appendUint(e, idCodecDelay, uint64(opusPreSkip)*1e9/48000)
		e = appendUint(e, idSeekPreRoll, 80_000_000)
		var a []byte
		a = appendFloat(a, idSamplingFreq, 48000)
		a = appendUint(a, idChannels, uint64(t.Channels))
		e = appendElem(e, idAudio, a)
		d = appendElem(d, idTrackEntry, e)
	}
	return appendElem(nil, idTracks, d)
}

// simpleBlock is one frame in a cluster: track, timecode relative to the
// cluster's (ms), keyframe flag.
func simpleBlock(b []byte, track int, rel int16, key bool, frame []byte) []byte {
	b = appendID(b, idSimpleBlock)
	b = appendSize(b, uint64(4+len(frame)))
	b = append(b, 0x80|byte(track), byte(uint16(rel)>>8), byte(uint16(rel)))
	flags := byte(0)
	if key {
		flags = 0x80
	}
	b = append(b, flags)
	return append(b, frame...)
}
