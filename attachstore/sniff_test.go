package attachstore_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/attachstore"
)

func TestSniffAllowed(t *testing.T) {
	tests := []struct {
		name    string
		content []byte
		want    string
	}{
		{"text", []byte("Thank you for your order.\nYour invoice is attached.\n"), "text/plain"},
		{"utf-8 text", []byte("Grüße aus München — danke!\n"), "text/plain"},
		{"csv", []byte("sku,qty,price\nA-1,2,9.99\nB-2,1,19.50\nC-3,5,1.00\n"), "text/csv"},
		{"pdf", samplePDF(), "application/pdf"},
		{"doc", sampleDoc(), "application/msword"},
		{"docx", sampleDocx(t), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"jpeg", sampleJPEG(), "image/jpeg"},
		{"gif", sampleGIF(), "image/gif"},
		{"png", samplePNG(), "image/png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, allowed, err := attachstore.Sniff(bytes.NewReader(tt.content))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.True(t, allowed)
			assert.True(t, attachstore.Allowed(got))
		})
	}
}

func TestSniffRefused(t *testing.T) {
	tests := []struct {
		name    string
		content []byte
		want    string
	}{
		{"html", []byte("<!DOCTYPE html>\n<html><body><p>Hi</p></body></html>\n"), "text/html"},
		{"html fragment", []byte("<script>alert(1)</script>"), "text/html"},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>`), "image/svg+xml"},
		{"xhtml", []byte(`<?xml version="1.0"?><!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml"></html>`), "application/xhtml+xml"},
		{"xml", []byte(`<?xml version="1.0"?><order id="1"/>`), "text/xml"},
		{"rtf", []byte(`{\rtf1\ansi hello}`), "text/rtf"},
		{"json", []byte(`{"order": "123-1234567-1234567"}`), "application/json"},
		{"zip", sampleZip(t), "application/zip"},
		{"elf", sampleELF(), "application/x-executable"},
		{"exe", sampleEXE(), "application/vnd.microsoft.portable-executable"},
		{"binary", []byte{0, 1, 2, 3, 4, 5, 6, 7}, "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, allowed := attachstore.SniffBytes(tt.content)
			assert.Equal(t, tt.want, got)
			assert.False(t, allowed)
		})
	}
}

func TestSniffReadsOnlyTheHead(t *testing.T) {
	r := strings.NewReader(string(samplePDF()) + strings.Repeat("x", 10000))
	got, allowed, err := attachstore.Sniff(r)
	require.NoError(t, err)
	assert.Equal(t, "application/pdf", got)
	assert.True(t, allowed)
	assert.Equal(t, 10000+len(samplePDF())-3072, r.Len(), "Sniff read past the bytes it needs")
}

func TestSniffReadError(t *testing.T) {
	boom := errors.New("boom")
	_, _, err := attachstore.Sniff(iotest.ErrReader(boom))
	require.ErrorIs(t, err, boom)
}

func TestAllowedIgnoresParameters(t *testing.T) {
	assert.True(t, attachstore.Allowed("text/plain; charset=utf-8"))
	assert.True(t, attachstore.Allowed("Application/PDF"))
	assert.False(t, attachstore.Allowed("text/html; charset=utf-8"))
	assert.False(t, attachstore.Allowed("application/octet-stream"))
	assert.False(t, attachstore.Allowed(""))
}
