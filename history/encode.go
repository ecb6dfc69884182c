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

// compressAbove is the size of CSV above which the rows are compressed (a
// gzip writer costs more than a small change's whole write).
const compressAbove = 4096

// encodeRows writes the rows as CSV records, "+" or "-" then the row,
// gzip-compressed when larger than compressAbove.
func encodeRows(added, removed [][]string) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
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
	if buf.Len() <= compressAbove {
		return buf.Bytes(), nil
	}
	var z bytes.Buffer
	zw, err := gzip.NewWriterLevel(&z, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("history: encode: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("history: encode: %w", err)
	}
	return z.Bytes(), nil
}

// decodeRows reads what encodeRows wrote.
func decodeRows(blob []byte) (added, removed [][]string, err error) {
	if len(blob) == 0 {
		return nil, nil, nil
	}
	var text io.Reader = bytes.NewReader(blob)
	if len(blob) > 2 && blob[0] == 0x1f && blob[1] == 0x8b { // gzip's magic; CSV starts with + or -
		zr, err := gzip.NewReader(text)
		if err != nil {
			return nil, nil, fmt.Errorf("history: decode: %w", err)
		}
		text = io.LimitReader(zr, maxDecoded)
	}
	r := csv.NewReader(text)
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
