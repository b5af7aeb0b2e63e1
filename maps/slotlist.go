package maps

// slotList is a doubly linked list threaded through slot indexes, so
// iteration order costs no allocation per element.
type slotList struct {
	next, prev []int32
	head, tail int32
}

const noSlot = -1

func newSlotList(n int) slotList {
	return slotList{next: make([]int32, n), prev: make([]int32, n), head: noSlot, tail: noSlot}
}

// grow adds a slot to the list's capacity.
func (l *slotList) grow() {
	l.next, l.prev = append(l.next, noSlot), append(l.prev, noSlot)
}

func (l *slotList) pushBack(i int32) {
	l.prev[i], l.next[i] = l.tail, noSlot
	if l.tail == noSlot {
		l.head = i
	} else {
		l.next[l.tail] = i
	}
	l.tail = i
}

func (l *slotList) remove(i int32) {
	if p := l.prev[i]; p == noSlot {
		l.head = l.next[i]
	} else {
		l.next[p] = l.next[i]
	}
	if n := l.next[i]; n == noSlot {
		l.tail = l.prev[i]
	} else {
		l.prev[n] = l.prev[i]
	}
}
