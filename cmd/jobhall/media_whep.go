package main

import (
	"github.com/pion/webrtc/v4"

	"jobhall/sfu"
	"jobhall/signaling"
)

// JoinWithOffer admits a WHEP viewer whose player offers
// (signaling.OfferJoiner).
func (e sfuEngine) JoinWithOffer(room string, p signaling.MediaParticipant, ev signaling.MediaEvents, offer webrtc.SessionDescription) (signaling.MediaSession, webrtc.SessionDescription, error) {
	part, answer, err := e.s.Room(room).JoinWithOffer(sfu.ParticipantInfo{ID: p.ID, Name: p.Name, CanSubscribe: true}, sfuEvents{ev}, offer)
	if err != nil {
		return nil, webrtc.SessionDescription{}, err
	}
	return sfuSession{part}, answer, nil
}
