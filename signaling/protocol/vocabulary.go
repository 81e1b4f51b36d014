package protocol

// vocabulary.go: the protocol's named values that more than one package
// uses: why a discussion ended, why its clock started, and how a group's
// channel is keyed in the store, the API and exports.

import "strings"

// End reasons (Ended.Reason).
const (
	EndDeadline     = "deadline"      // the discussion clock ran out
	EndExperimenter = "experimenter"  // the experimenter ended it
	EndSession      = "session_ended" // the session ended (the participant had no group, or the group's end came with it)
	EndRemoved      = "removed"       // the experimenter removed this participant
)

// Clock start reasons (Clock.Reason).
const (
	ClockAllConnected = "all_connected" // every member reported the call connected
	ClockFallback     = "fallback"      // the call never connected; started anyway after the fallback wait
	ClockPaired       = "paired"        // as soon as the group formed
)

// CheckRoom is the room of workstation checks (JoinRequest.Check): every
// server has it, its sessions open by themselves and are never exported or
// listed with the experiment's.
const CheckRoom = "parley-check"

// GroupKeyPrefix starts the channel key of a group's chat: "group:<group id>".
// Kiosks call it just ChannelGroup; the store, the API and exports use the key.
const GroupKeyPrefix = "group:"

// PrivateKeyPrefix starts the channel key of a participant's private
// channel with the experimenter: "private:<participant code>".
const PrivateKeyPrefix = "private:"

// PrivateKey is the channel key of a participant's private channel.
func PrivateKey(participantCode string) string { return PrivateKeyPrefix + participantCode }

// GroupKey is the channel key of a group's chat.
func GroupKey(groupID string) string { return GroupKeyPrefix + groupID }

// GroupOfKey returns the group id of a group channel key.
func GroupOfKey(key string) (groupID string, ok bool) {
	return strings.CutPrefix(key, GroupKeyPrefix)
}
