package vm

// SkbData serves LD_ABS and LD_IND, which read a socket buffer relative to
// skb->data (with the kernel's negative SKF_NET_OFF / SKF_LL_OFF bases).
// Contexts of the skb program types provide it.
type SkbData interface {
	// LoadAbs returns size bytes at off, or false if they are outside the packet.
	LoadAbs(off int64, size int) ([]byte, bool)
}

// SetSkb sets the socket buffer LD_ABS/LD_IND read in this run (nil: none).
func (m *Machine) SetSkb(s SkbData) { m.skb = s }
