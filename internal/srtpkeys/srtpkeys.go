// Package srtpkeys reads a connected PeerConnection's SRTP session keys, for
// code that encrypts or decrypts media itself instead of through Pion's
// SRTP sessions: the SFU's direct paths and loadgen's direct receive.
package srtpkeys

import (
	"reflect"
	"unsafe"

	"github.com/pion/dtls/v3"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// Of derives pc's SRTP keys and profile from its DTLS connection and
// returns its ICE transport (for the selected pair); false before DTLS is
// connected or with a profile Pion's SRTP does not know. Pion exposes no
// API for the keys, so the connection is read from DTLSTransport by
// reflection (Pion is pinned; TestOf fails if its layout changes).
func Of(pc *webrtc.PeerConnection) (srtp.SessionKeys, srtp.ProtectionProfile, *webrtc.ICETransport, bool) {
	var none srtp.SessionKeys
	if pc.SCTP() == nil {
		return none, 0, nil, false
	}
	dt := pc.SCTP().Transport()
	if dt == nil || dt.State() != webrtc.DTLSTransportStateConnected {
		return none, 0, nil, false
	}
	f := reflect.ValueOf(dt).Elem().FieldByName("conn")
	if !f.IsValid() || f.Type() != reflect.TypeOf((*dtls.Conn)(nil)) {
		return none, 0, nil, false
	}
	dc := *(**dtls.Conn)(unsafe.Pointer(f.UnsafeAddr()))
	if dc == nil {
		return none, 0, nil, false
	}
	state, ok := dc.ConnectionState()
	if !ok {
		return none, 0, nil, false
	}
	var profile srtp.ProtectionProfile
	switch p, _ := dc.SelectedSRTPProtectionProfile(); p {
	case dtls.SRTP_AEAD_AES_128_GCM:
		profile = srtp.ProtectionProfileAeadAes128Gcm
	case dtls.SRTP_AEAD_AES_256_GCM:
		profile = srtp.ProtectionProfileAeadAes256Gcm
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return none, 0, nil, false
	}
	isClient := reflect.ValueOf(&state).Elem().FieldByName("isClient")
	if !isClient.IsValid() || isClient.Kind() != reflect.Bool {
		return none, 0, nil, false
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, isClient.Bool()); err != nil {
		return none, 0, nil, false
	}
	return cfg.Keys, profile, dt.ICETransport(), true
}
