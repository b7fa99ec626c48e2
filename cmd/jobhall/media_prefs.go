package main

// SetVideoPreference passes a viewer's largest tile size to the SFU, which
// picks the simulcast layer (signaling.VideoPreferrer).
func (s sfuSession) SetVideoPreference(publisherID, trackID string, maxWidth, maxHeight int) error {
	return s.p.SetVideoPreference(publisherID, trackID, maxWidth, maxHeight)
}
