package ui

import (
	"fmt"
	"strings"
)

// msgKey names one text the participant (or the experimenter at the kiosk)
// sees. Every visible string goes through the catalogue.
type msgKey string

const (
	kWelcomeTitle        msgKey = "welcome_title"
	kWelcomeDefault      msgKey = "welcome_default"
	kPseudonymLabel      msgKey = "pseudonym_label"
	kPseudonymHint       msgKey = "pseudonym_hint"
	kJoin                msgKey = "join"
	kJoining             msgKey = "joining"
	kPseudonymRefused    msgKey = "pseudonym_refused"
	kPseudonymEmpty      msgKey = "pseudonym_empty"
	kServerOffline       msgKey = "server_offline"
	kDeviceTitle         msgKey = "device_title"
	kDeviceHint          msgKey = "device_hint"
	kDeviceHintCamera    msgKey = "device_hint_camera"
	kDeviceHintMic       msgKey = "device_hint_mic"
	kDeviceHintNone      msgKey = "device_hint_none"
	kMicLevel            msgKey = "mic_level"
	kNoCamera            msgKey = "no_camera"
	kNoMicrophone        msgKey = "no_microphone"
	kNoAudioOutput       msgKey = "no_audio_output"
	kContinue            msgKey = "continue"
	kTryAgain            msgKey = "try_again"
	kWaitingTitle        msgKey = "waiting_title"
	kWaitingCount        msgKey = "waiting_count"
	kYouAre              msgKey = "you_are"
	kConnecting          msgKey = "connecting"
	kPartnerReconnecting msgKey = "partner_reconnecting"
	kPartnerDefault      msgKey = "partner_default"
	kStarting            msgKey = "starting"
	kTimeLeft            msgKey = "time_left"
	kYou                 msgKey = "you"
	kExperimenter        msgKey = "experimenter"
	kSystem              msgKey = "system"
	kSending             msgKey = "sending"
	kMessageRefused      msgKey = "message_refused"
	kChatPlaceholder     msgKey = "chat_placeholder"
	kSend                msgKey = "send"
	kCharCount           msgKey = "char_count"
	kReadOnly            msgKey = "read_only"
	kChanGroup           msgKey = "chan_group"
	kChanSession         msgKey = "chan_session"
	kChanExperimenter    msgKey = "chan_experimenter"
	kMuteMic             msgKey = "mute_mic"
	kUnmuteMic           msgKey = "unmute_mic"
	kCameraOff           msgKey = "camera_off"
	kCameraOn            msgKey = "camera_on"
	kEndedTitle          msgKey = "ended_title"
	kEndedThanks         msgKey = "ended_thanks"
	kEndDeadline         msgKey = "end_deadline"
	kEndExperimenter     msgKey = "end_experimenter"
	kEndSession          msgKey = "end_session"
	kExitTitle           msgKey = "exit_title"
	kExitPIN             msgKey = "exit_pin"
	kExitWrong           msgKey = "exit_wrong"
	kExitLocked          msgKey = "exit_locked"
	kExitLeave           msgKey = "exit_leave"
	kCancel              msgKey = "cancel"
	kErrGeneric          msgKey = "err_generic"
	kErrBadPseudonym     msgKey = "err_bad_pseudonym"
	kErrSeatTaken        msgKey = "err_seat_taken"
	kErrNoSession        msgKey = "err_no_session"
	kErrTooLong          msgKey = "err_too_long"
	kErrEmpty            msgKey = "err_empty"
	kErrRateLimited      msgKey = "err_rate_limited"
	kJoinRateLimited     msgKey = "join_rate_limited"
	kErrReadOnly         msgKey = "err_read_only"
	kErrChatClosed       msgKey = "err_chat_closed"
	kErrCallFailed       msgKey = "err_call_failed"
	kErrPseudonymTaken   msgKey = "err_pseudonym_taken"
	kWaitingForSession   msgKey = "waiting_for_session"
	kServerUnreachable   msgKey = "server_unreachable"
	kNoPartner           msgKey = "no_partner"
	kEndNoPartner        msgKey = "end_no_partner"
	kDeviceRequired      msgKey = "device_required"
	kAnnouncement        msgKey = "announcement"
	kDismiss             msgKey = "dismiss"
	kNoPINSet            msgKey = "no_pin_set"
	kPaused              msgKey = "paused"
	kEndRemoved          msgKey = "end_removed"
	kPartnerCameraOff    msgKey = "partner_camera_off"
	kChanPrivate         msgKey = "chan_private"
	kConsentTitle        msgKey = "consent_title"
	kConsentAudio        msgKey = "consent_audio"
	kConsentAudioVideo   msgKey = "consent_audio_video"
	kConsentWhatAudio    msgKey = "consent_what_audio"
	kConsentWhatVideo    msgKey = "consent_what_audio_video"
	kConsentAgree        msgKey = "consent_agree"
	kConsentDecline      msgKey = "consent_decline"
	kDeclinedTitle       msgKey = "declined_title"
	kDeclinedText        msgKey = "declined_text"
	kRecording           msgKey = "recording"
	kUploadsLeft         msgKey = "uploads_left"
)

// catalogue holds every text per language. Values may hold fmt verbs; both
// languages must use the same verbs in the same order (see i18n_test.go).
var catalogue = map[string]map[msgKey]string{
	"en": {
		kWelcomeTitle:        "Welcome",
		kWelcomeDefault:      "Please type the pseudonym you were given and press Enter.",
		kPseudonymLabel:      "Your pseudonym",
		kPseudonymHint:       "Pseudonym",
		kJoin:                "Join",
		kJoining:             "Connecting…",
		kPseudonymRefused:    "Your pseudonym was not accepted: %s",
		kPseudonymEmpty:      "Please type your pseudonym first.",
		kServerOffline:       "The connection to the lab server was lost. Reconnecting…",
		kDeviceTitle:         "Check your camera and microphone",
		kDeviceHint:          "You should see yourself. Say something: the bar below should move.",
		kDeviceHintCamera:    "You should see yourself.",
		kDeviceHintMic:       "Say something: the bar below should move.",
		kDeviceHintNone:      "This workstation takes part without a camera and a microphone. Please continue.",
		kMicLevel:            "Microphone",
		kNoCamera:            "No camera was found. Please tell the experimenter.",
		kNoMicrophone:        "No microphone was found. Please tell the experimenter.",
		kNoAudioOutput:       "No speakers or headphones were found. Please tell the experimenter.",
		kContinue:            "Continue",
		kTryAgain:            "Try again",
		kWaitingTitle:        "Waiting for your partner…",
		kWaitingCount:        "%d of %d present",
		kYouAre:              "You are %s",
		kConnecting:          "Connecting…",
		kPartnerReconnecting: "Your partner is reconnecting…",
		kPartnerDefault:      "Your partner",
		kStarting:            "Starting…",
		kTimeLeft:            "Time left",
		kYou:                 "(You)",
		kExperimenter:        "Experimenter",
		kSystem:              "Notice",
		kSending:             "sending…",
		kMessageRefused:      "Not sent: %s",
		kChatPlaceholder:     "Type a message and press Enter",
		kSend:                "Send",
		kCharCount:           "%d / %d characters",
		kReadOnly:            "Only the experimenter writes here.",
		kChanGroup:           "Chat",
		kChanSession:         "Everyone",
		kChanExperimenter:    "Announcements",
		kMuteMic:             "Mute microphone",
		kUnmuteMic:           "Unmute microphone",
		kCameraOff:           "Turn camera off",
		kCameraOn:            "Turn camera on",
		kEndedTitle:          "The discussion has ended",
		kEndedThanks:         "Thank you for taking part.",
		kEndDeadline:         "The time is up.",
		kErrPseudonymTaken:   "Another participant already uses this name. Please choose another one.",
		kWaitingForSession:   "The session has not started yet. Please wait: you will join as soon as it starts.",
		kServerUnreachable:   "The lab server cannot be reached. Please tell the experimenter. Parley keeps trying.",
		kNoPartner:           "No partner has arrived. Please tell the experimenter.",
		kEndNoPartner:        "No partner came, so there was no discussion.",
		kDeviceRequired:      "The camera and the microphone must work before you can continue. Please tell the experimenter.",
		kAnnouncement:        "Message from the experimenter",
		kDismiss:             "OK",
		kNoPINSet:            "No exit PIN is set on this workstation. IT must set one with: sudo parley kiosk set-pin",
		kPaused:              "Paused by the experimenter",
		kEndRemoved:          "The experimenter has ended your participation.",
		kPartnerCameraOff:    "Your partner's camera is off or has stopped. You can still talk.",
		kChanPrivate:         "Experimenter (private)",
		kEndExperimenter:     "The experimenter ended the discussion.",
		kEndSession:          "The session is over.",
		kExitTitle:           "Experimenter: leave the kiosk",
		kExitPIN:             "PIN",
		kExitWrong:           "Wrong PIN.",
		kExitLocked:          "Too many wrong PINs. Please wait a minute.",
		kExitLeave:           "Leave",
		kCancel:              "Cancel",
		kErrGeneric:          "Something went wrong (%s). Please tell the experimenter.",
		kErrBadPseudonym:     "it must have 1 to 32 characters and no invisible or control characters.",
		kErrSeatTaken:        "someone else is already using this seat.",
		kErrNoSession:        "no session is open yet. Please wait for the experimenter.",
		kErrTooLong:          "the message is too long.",
		kErrEmpty:            "the message is empty.",
		kErrRateLimited:      "too many messages in a short time. Please wait a moment.",
		kJoinRateLimited:     "Too many attempts to join from this workstation in a short time. Please wait a minute, then press Join again.",
		kErrReadOnly:         "you cannot write in this channel.",
		kErrChatClosed:       "the chat is closed.",
		kErrCallFailed:       "The video call could not be started. Please tell the experimenter.",
		kConsentTitle:        "Recording of the discussion",
		kConsentAudio:        "The audio of this discussion will be recorded for research and stored on the lab's server. Being recorded is voluntary: you may decline.",
		kConsentAudioVideo:   "The audio and video of this discussion will be recorded for research and stored on the lab's server. Being recorded is voluntary: you may decline.",
		kConsentWhatAudio:    "Recorded: your microphone (audio only).",
		kConsentWhatVideo:    "Recorded: your microphone and your camera (audio and video).",
		kConsentAgree:        "I agree to be recorded",
		kConsentDecline:      "I do not agree",
		kDeclinedTitle:       "Thank you",
		kDeclinedText:        "You chose not to be recorded. Please stay seated; the experimenter will come to you.",
		kRecording:           "Recording",
		kUploadsLeft:         "Saving the recording to the lab server… (%d left). Please leave this computer on.",
	},
	"de": {
		kWelcomeTitle:        "Willkommen",
		kWelcomeDefault:      "Bitte geben Sie das Pseudonym ein, das Sie erhalten haben, und drücken Sie Enter.",
		kPseudonymLabel:      "Ihr Pseudonym",
		kPseudonymHint:       "Pseudonym",
		kJoin:                "Teilnehmen",
		kJoining:             "Verbindung wird hergestellt…",
		kPseudonymRefused:    "Ihr Pseudonym wurde nicht angenommen: %s",
		kPseudonymEmpty:      "Bitte geben Sie zuerst Ihr Pseudonym ein.",
		kServerOffline:       "Die Verbindung zum Laborserver ist unterbrochen. Neuer Versuch läuft…",
		kDeviceTitle:         "Kamera und Mikrofon prüfen",
		kDeviceHint:          "Sie sollten sich selbst sehen. Sprechen Sie: Der Balken unten sollte sich bewegen.",
		kDeviceHintCamera:    "Sie sollten sich selbst sehen.",
		kDeviceHintMic:       "Sprechen Sie: Der Balken unten sollte sich bewegen.",
		kDeviceHintNone:      "An diesem Arbeitsplatz wird ohne Kamera und Mikrofon teilgenommen. Bitte fahren Sie fort.",
		kMicLevel:            "Mikrofon",
		kNoCamera:            "Es wurde keine Kamera gefunden. Bitte wenden Sie sich an die Versuchsleitung.",
		kNoMicrophone:        "Es wurde kein Mikrofon gefunden. Bitte wenden Sie sich an die Versuchsleitung.",
		kNoAudioOutput:       "Es wurden keine Lautsprecher oder Kopfhörer gefunden. Bitte wenden Sie sich an die Versuchsleitung.",
		kContinue:            "Weiter",
		kTryAgain:            "Erneut versuchen",
		kWaitingTitle:        "Warten auf Ihr Gegenüber…",
		kWaitingCount:        "%d von %d anwesend",
		kYouAre:              "Sie sind %s",
		kConnecting:          "Verbindung wird aufgebaut…",
		kPartnerReconnecting: "Ihr Gegenüber verbindet sich neu…",
		kPartnerDefault:      "Ihr Gegenüber",
		kStarting:            "Beginnt gleich…",
		kTimeLeft:            "Verbleibende Zeit",
		kYou:                 "(Sie)",
		kExperimenter:        "Versuchsleitung",
		kSystem:              "Hinweis",
		kSending:             "wird gesendet…",
		kMessageRefused:      "Nicht gesendet: %s",
		kChatPlaceholder:     "Nachricht eingeben und Enter drücken",
		kSend:                "Senden",
		kCharCount:           "%d / %d Zeichen",
		kReadOnly:            "Hier schreibt nur die Versuchsleitung.",
		kChanGroup:           "Chat",
		kChanSession:         "Alle",
		kChanExperimenter:    "Ankündigungen",
		kMuteMic:             "Mikrofon stumm",
		kUnmuteMic:           "Mikrofon an",
		kCameraOff:           "Kamera aus",
		kCameraOn:            "Kamera an",
		kEndedTitle:          "Das Gespräch ist beendet",
		kEndedThanks:         "Vielen Dank für Ihre Teilnahme.",
		kEndDeadline:         "Die Zeit ist abgelaufen.",
		kErrPseudonymTaken:   "Diesen Namen verwendet schon jemand anderes. Bitte wählen Sie einen anderen.",
		kWaitingForSession:   "Die Sitzung hat noch nicht begonnen. Bitte warten Sie: Sie nehmen teil, sobald sie beginnt.",
		kServerUnreachable:   "Der Laborserver ist nicht erreichbar. Bitte sagen Sie der Versuchsleitung Bescheid. Parley versucht es weiter.",
		kNoPartner:           "Es ist kein Partner gekommen. Bitte sagen Sie der Versuchsleitung Bescheid.",
		kEndNoPartner:        "Es kam kein Partner, daher fand keine Diskussion statt.",
		kDeviceRequired:      "Kamera und Mikrofon müssen funktionieren, bevor es weitergeht. Bitte sagen Sie der Versuchsleitung Bescheid.",
		kAnnouncement:        "Nachricht der Versuchsleitung",
		kDismiss:             "OK",
		kNoPINSet:            "Auf diesem Arbeitsplatz ist keine Exit-PIN gesetzt. Die IT muss eine setzen mit: sudo parley kiosk set-pin",
		kPaused:              "Von der Versuchsleitung angehalten",
		kEndRemoved:          "Die Versuchsleitung hat Ihre Teilnahme beendet.",
		kPartnerCameraOff:    "Die Kamera Ihres Partners ist aus oder ausgefallen. Sie können weiter sprechen.",
		kChanPrivate:         "Versuchsleitung (privat)",
		kEndExperimenter:     "Die Versuchsleitung hat das Gespräch beendet.",
		kEndSession:          "Die Sitzung ist vorbei.",
		kExitTitle:           "Versuchsleitung: Kiosk verlassen",
		kExitPIN:             "PIN",
		kExitWrong:           "Falsche PIN.",
		kExitLocked:          "Zu viele falsche PINs. Bitte warten Sie eine Minute.",
		kExitLeave:           "Verlassen",
		kCancel:              "Abbrechen",
		kErrGeneric:          "Etwas ist schiefgegangen (%s). Bitte wenden Sie sich an die Versuchsleitung.",
		kErrBadPseudonym:     "Es muss 1 bis 32 Zeichen lang sein und darf keine unsichtbaren oder Steuerzeichen enthalten.",
		kErrSeatTaken:        "Dieser Platz wird bereits von jemand anderem genutzt.",
		kErrNoSession:        "Es ist noch keine Sitzung geöffnet. Bitte warten Sie auf die Versuchsleitung.",
		kErrTooLong:          "Die Nachricht ist zu lang.",
		kErrEmpty:            "Die Nachricht ist leer.",
		kErrRateLimited:      "Zu viele Nachrichten in kurzer Zeit. Bitte warten Sie einen Moment.",
		kJoinRateLimited:     "Zu viele Anmeldeversuche von diesem Arbeitsplatz in kurzer Zeit. Bitte warten Sie eine Minute und drücken Sie dann erneut auf Teilnehmen.",
		kErrReadOnly:         "Sie können in diesem Kanal nicht schreiben.",
		kErrChatClosed:       "Der Chat ist geschlossen.",
		kErrCallFailed:       "Die Videoverbindung konnte nicht aufgebaut werden. Bitte wenden Sie sich an die Versuchsleitung.",
		kConsentTitle:        "Aufzeichnung des Gesprächs",
		kConsentAudio:        "Der Ton dieses Gesprächs wird zu Forschungszwecken aufgezeichnet und auf dem Server des Labors gespeichert. Die Aufzeichnung ist freiwillig: Sie können sie ablehnen.",
		kConsentAudioVideo:   "Ton und Bild dieses Gesprächs werden zu Forschungszwecken aufgezeichnet und auf dem Server des Labors gespeichert. Die Aufzeichnung ist freiwillig: Sie können sie ablehnen.",
		kConsentWhatAudio:    "Aufgezeichnet wird: Ihr Mikrofon (nur Ton).",
		kConsentWhatVideo:    "Aufgezeichnet werden: Ihr Mikrofon und Ihre Kamera (Ton und Bild).",
		kConsentAgree:        "Ich bin mit der Aufzeichnung einverstanden",
		kConsentDecline:      "Ich bin nicht einverstanden",
		kDeclinedTitle:       "Vielen Dank",
		kDeclinedText:        "Sie haben sich gegen die Aufzeichnung entschieden. Bitte bleiben Sie sitzen; die Versuchsleitung kommt zu Ihnen.",
		kRecording:           "Aufnahme",
		kUploadsLeft:         "Die Aufnahme wird auf dem Laborserver gespeichert… (noch %d). Bitte lassen Sie diesen Computer eingeschaltet.",
	},
}

// fallbackLanguage is used when neither the config nor the locale names a
// supported language.
const fallbackLanguage = "en"

// resolveLanguage picks the catalogue language: the configured one, else the
// first supported language of LC_ALL, LC_MESSAGES, LANG (POSIX precedence).
func resolveLanguage(configured string, getenv func(string) string) string {
	if _, ok := catalogue[configured]; ok {
		return configured
	}
	for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		loc := getenv(v)
		if loc == "" {
			continue
		}
		// "de_DE.UTF-8@euro" -> "de"
		lang := strings.ToLower(strings.FieldsFunc(loc, func(r rune) bool {
			return r == '_' || r == '.' || r == '@' || r == '-'
		})[0])
		if _, ok := catalogue[lang]; ok {
			return lang
		}
		return fallbackLanguage // the first set variable decides, as in POSIX
	}
	return fallbackLanguage
}

// translator renders catalogue texts in one language.
type translator struct{ lang string }

// T returns the text for key with args formatted into it; a key missing in
// the language falls back to English (the catalogue test keeps that from happening).
func (t translator) T(key msgKey, args ...any) string {
	s, ok := catalogue[t.lang][key]
	if !ok {
		s, ok = catalogue[fallbackLanguage][key]
		if !ok {
			s = string(key)
		}
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}
