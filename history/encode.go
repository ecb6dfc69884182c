package history

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"io"
)

// maxDecoded bounds what one entry's rows may inflate to (a corrupted or
// hostile blob must not exhaust memory).
const maxDecoded = 512 << 20

// encodeRows writes the rows as gzip-compressed CSV records: "+" or "-",
// then the row.
func encodeRows(added, removed [][]string) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	w := csv.NewWriter(zw)
	for _, part := range []struct {
		op   string
		rows [][]string
	}{{"+", added}, {"-", removed}} {
		for _, r := range part.rows {
			if err := w.Write(append([]string{part.op}, r...)); err != nil {
				return nil, fmt.Errorf("history: encode: %w", err)
			}
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("history: encode: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("history: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// decodeRows reads what encodeRows wrote.
func decodeRows(blob []byte) (added, removed [][]string, err error) {
	if len(blob) == 0 {
		return nil, nil, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return nil, nil, fmt.Errorf("history: decode: %w", err)
	}
	r := csv.NewReader(io.LimitReader(zr, maxDecoded))
	r.FieldsPerRecord = -1
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("history: decode: %w", err)
		}
		if len(rec) < 2 {
			return nil, nil, fmt.Errorf("history: decode: short record %q", rec)
		}
		switch rec[0] {
		case "+":
			added = append(added, rec[1:])
		case "-":
			removed = append(removed, rec[1:])
		default:
			return nil, nil, fmt.Errorf("history: decode: record %q", rec)
		}
	}
	return added, removed, nil
}
