package cache

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
)

// The write-ahead log makes every committed Batch survive a kill -9 at the
// cost of one write(2), without a bbolt commit on the request path. Records
// are [len u32][crc32 u32][payload]; payload is [lsn u64][mutations...]. A torn
// tail (a record cut short or with a bad checksum) ends the log: everything
// before it is intact and applied, nothing after it was acknowledged as
// durable.

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type mutation struct {
	bucket byte
	del    bool
	key    []byte
	val    []byte
}

func encodeRecord(buf []byte, lsn uint64, muts []mutation) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0) // len, crc
	buf = binary.BigEndian.AppendUint64(buf, lsn)
	for _, m := range muts {
		flag := m.bucket << 1
		if m.del {
			flag |= 1
		}
		buf = append(buf, flag)
		buf = binary.AppendUvarint(buf, uint64(len(m.key)))
		buf = append(buf, m.key...)
		if !m.del {
			buf = binary.AppendUvarint(buf, uint64(len(m.val)))
			buf = append(buf, m.val...)
		}
	}
	payload := buf[start+8:]
	binary.BigEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, crcTable))
	return buf
}

var errTorn = errors.New("torn record")

func decodeMutations(p []byte) ([]mutation, error) {
	var muts []mutation
	for len(p) > 0 {
		flag := p[0]
		p = p[1:]
		m := mutation{bucket: flag >> 1, del: flag&1 == 1}
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return nil, errTorn
		}
		m.key, p = p[k:k+int(n)], p[k+int(n):]
		if !m.del {
			n, k = binary.Uvarint(p)
			if k <= 0 || uint64(len(p)-k) < n {
				return nil, errTorn
			}
			m.val, p = p[k:k+int(n)], p[k+int(n):]
		}
		muts = append(muts, m)
	}
	return muts, nil
}

// readWAL calls fn for every intact record of the log at path, in order.
func readWAL(path string, fn func(lsn uint64, muts []mutation) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil // clean end or torn header
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n < 8 || n > 1<<30 {
			return nil
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return nil
		}
		if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
			return nil
		}
		muts, err := decodeMutations(payload[8:])
		if err != nil {
			return nil
		}
		if err := fn(binary.BigEndian.Uint64(payload[:8]), muts); err != nil {
			return err
		}
	}
}
