package cache

import "encoding/binary"

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func beU64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// Key encodes an id or sequence number so that keys sort numerically.
func Key(v uint64) []byte { return u64(v) }

// KeyValue decodes a Key.
func KeyValue(b []byte) uint64 { return beU64(b) }

// DirentKey is the key of the entry name in directory parent.
func DirentKey(parent uint64, name string) []byte {
	return append(u64(parent), name...)
}
