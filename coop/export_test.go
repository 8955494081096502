package coop

// LatentsMade is the number of latent buffers the models' pools have had
// to allocate.
func LatentsMade(ms ...*Model) int {
	n := 0
	for _, m := range ms {
		m.latents.mu.Lock()
		n += m.latents.made
		m.latents.mu.Unlock()
	}
	return n
}
