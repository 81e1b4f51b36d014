package protocol

// recording.go: the vocabulary of recording: the session's record setting,
// the participant's consent, the kiosk's reports of its recording, and the
// HTTP upload of finished segments (PROTOCOL.md, "Recordings").

// Record settings (Settings.Record).
const (
	RecordOff        = "off"         // nothing is recorded; no consent is asked
	RecordAudio      = "audio"       // each kiosk records the Opus it sends
	RecordAudioVideo = "audio_video" // each kiosk records the VP8 and Opus it sends
)

// Consent answers (Consent, Welcome.Consent).
const (
	ConsentGiven    = "given"
	ConsentDeclined = "declined"
)

// Kiosk messages of recording.
const (
	// TypeConsent answers the consent screen; with recording on, only a
	// participant who consented is paired. The first answer is kept.
	TypeConsent = "consent" // Consent
	// TypeRecording reports a segment starting or stopping; kept as an
	// event, acknowledged with TypeAck like a call state.
	TypeRecording = "recording" // RecordingState
)

// Consent is the participant's answer to the consent screen.
type Consent struct {
	Given bool `json:"given"`
	// Language is the language the consent text was shown in.
	Language string `json:"language,omitempty"`
	// ID and AtMS as in CallState.
	ID   string `json:"id,omitempty"`
	AtMS int64  `json:"at_ms,omitempty"`
}

// Recording states (RecordingState.State).
const (
	RecordingStarted = "started"
	RecordingStopped = "stopped"
)

// RecordingState is a kiosk's report of one segment starting or stopping.
type RecordingState struct {
	Segment string `json:"segment"` // Segment.ID
	Seq     int    `json:"seq"`
	State   string `json:"state"` // RecordingStarted or RecordingStopped
	// Reason, with RecordingStopped: why the segment ended (a SegmentEnd value).
	Reason string `json:"reason,omitempty"`
	// ID and AtMS as in CallState; AtMS is the segment's start or end.
	ID   string `json:"id,omitempty"`
	AtMS int64  `json:"at_ms,omitempty"`
}

// Why a segment ended (RecordingState.Reason, Segment.EndReason).
const (
	SegmentCallEnded = "call_ended" // the discussion ended or the participant left
	SegmentCallLost  = "call_lost"  // the call dropped or was made afresh; a new segment follows
	SegmentCrash     = "crash"      // the kiosk stopped without closing it; repaired on its next start
	SegmentShutdown  = "shutdown"   // the kiosk was shut down mid-discussion
)

// Container and codec names (Segment.Container, Segment.Codecs): WebM's.
const (
	ContainerWebM = "webm"
	CodecVP8      = "V_VP8"
	CodecOpus     = "A_OPUS"
)

// Upload of recordings, over HTTP on the kiosks' server (the websocket's
// host), authenticated with the participant's resume token as
// "Authorization: Bearer <token>":
//
//	PUT   /recordings/{id}           body: Segment (JSON); declares the segment
//	GET   /recordings/{id}           UploadStatus
//	PATCH /recordings/{id}?offset=N  body: the file's bytes from N, at most MaxUploadChunk
//
// PUT is idempotent: the same Segment again answers its UploadStatus; another
// Size or SHA256 under the same id is refused (409, CodeUploadConflict). A
// chunk whose offset is not UploadStatus.Received is refused (409,
// CodeBadOffset, with the status in the reply so the kiosk resumes from
// there). When Received reaches Size the server checks the SHA-256: a match
// completes the segment (Complete); a mismatch is refused (422,
// CodeBadChecksum) and what was received is discarded, so the kiosk sends it
// again. The kiosk deletes its copy only after Complete.
//
// Every reply is JSON: an UploadStatus, or an UploadError.
const (
	RecordingsPath = "/recordings/"
	// MaxUploadChunk bounds one PATCH body.
	MaxUploadChunk = 4 << 20
	// MaxSegmentBytes bounds one segment (a day of video at 1 Mb/s is 11 GB).
	MaxSegmentBytes = 64 << 30
	// MaxSegmentIDBytes bounds Segment.ID: letters, digits, '-' and '_'.
	MaxSegmentIDBytes = 64
)

// Upload error codes (UploadError.Code), besides CodeBadToken (401),
// CodeBadField (400) and CodeInternal (500).
const (
	CodeNotYours       = "not_yours"       // 403: the segment names another participant or session
	CodeNotRecorded    = "not_recorded"    // 403: the session does not record (this mode), or the participant did not consent
	CodeNoSegment      = "no_segment"      // 404: no segment with that id for this participant
	CodeUploadConflict = "upload_conflict" // 409: the id is declared with another size or checksum
	CodeBadOffset      = "bad_offset"      // 409: the chunk does not start where the server's copy ends
	CodeBadChecksum    = "bad_checksum"    // 422: the bytes received do not have the declared SHA-256
	CodeDiskFull       = "disk_full"       // 507: the server's disk is full; nothing was deleted, try later
	CodeTooLarge       = "too_large"       // 413: a chunk over MaxUploadChunk or past Size, or a segment over MaxSegmentBytes
)

// Segment describes one recorded segment: what the kiosk wrote from one
// call's start to its end. Times are server time (the kiosk's clock
// corrected by the offset it learnt from the server).
type Segment struct {
	ID          string `json:"id"`
	Seq         int    `json:"seq"` // 1, 2, … for this participant
	Session     string `json:"session"`
	Participant string `json:"participant"` // participant id (Welcome.ParticipantID)
	Group       string `json:"group"`
	StartMS     int64  `json:"start_ms"`
	EndMS       int64  `json:"end_ms"`
	// Mode is RecordAudio or RecordAudioVideo.
	Mode      string   `json:"mode"`
	Container string   `json:"container"`
	Codecs    []string `json:"codecs"`
	Width     int      `json:"width,omitempty"`
	Height    int      `json:"height,omitempty"`
	Size      int64    `json:"size"`
	SHA256    string   `json:"sha256"` // lower-case hex of the whole file
	// VideoFrames and AudioPackets written; Dropped lost to a slow disk.
	VideoFrames  int `json:"video_frames"`
	AudioPackets int `json:"audio_packets"`
	Dropped      int `json:"dropped,omitempty"`
	// EndReason is a SegmentEnd value; Repaired: cut after a crash.
	EndReason string `json:"end_reason"`
	Repaired  bool   `json:"repaired,omitempty"`
	// Final: the discussion is over and this is the participant's last
	// segment; once it and every earlier one are complete, the
	// participant's recording is complete.
	Final bool `json:"final,omitempty"`
}

// UploadStatus is the server's copy of a segment.
type UploadStatus struct {
	ID       string `json:"id"`
	Size     int64  `json:"size"`
	Received int64  `json:"received"`
	Complete bool   `json:"complete"`
}

// UploadError is a refused upload request.
type UploadError struct {
	Code    string        `json:"code"`
	Message string        `json:"message"`
	Status  *UploadStatus `json:"status,omitempty"`
}
