package attachstore_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/require"
)

// Small but real samples of each file type, made here rather than shipped.

func samplePDF() []byte {
	return []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" +
		"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
}

func samplePNG() []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	b = append(b, 0, 0, 0, 13)
	b = append(b, "IHDR"...)
	b = append(b, 0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0)
	return append(b, 0x90, 0x77, 0x53, 0xde) // CRC of the IHDR chunk
}

func sampleGIF() []byte {
	return append([]byte("GIF89a\x01\x00\x01\x00\x80\x00\x00"), 0, 0, 0, 0xff, 0xff, 0xff, ';')
}

func sampleJPEG() []byte {
	return append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"), 0xff, 0xd9)
}

// sampleDocx is a minimal Office Open XML word-processing package.
func sampleDocx(t *testing.T) []byte {
	t.Helper()
	return zipOf(t, []string{
		"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`,
		"_rels/.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`,
		"word/document.xml", `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Invoice</w:t></w:r></w:p></w:body></w:document>`,
	})
}

// sampleZip is a plain zip archive.
func sampleZip(t *testing.T) []byte {
	t.Helper()
	return zipOf(t, []string{"hello.txt", "hello\n"})
}

// zipOf builds a zip archive from name, content pairs.
func zipOf(t *testing.T, pairs []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < len(pairs); i += 2 {
		w, err := zw.Create(pairs[i])
		require.NoError(t, err)
		_, err = w.Write([]byte(pairs[i+1]))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// sampleDoc is a minimal OLE compound file (version 3, 512-byte sectors)
// holding a Word 97 root storage with a WordDocument stream.
func sampleDoc() []byte {
	const sector = 512
	b := make([]byte, 3*sector)
	le := binary.LittleEndian
	copy(b, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
	le.PutUint16(b[24:], 0x3e)        // minor version
	le.PutUint16(b[26:], 3)           // major version
	le.PutUint16(b[28:], 0xfffe)      // byte order
	le.PutUint16(b[30:], 9)           // sector shift: 512
	le.PutUint16(b[32:], 6)           // mini sector shift: 64
	le.PutUint32(b[44:], 1)           // FAT sectors
	le.PutUint32(b[48:], 1)           // first directory sector
	le.PutUint32(b[56:], 4096)        // mini stream cutoff
	le.PutUint32(b[60:], 0xfffffffe)  // no mini FAT
	le.PutUint32(b[68:], 0xfffffffe)  // no DIFAT sectors
	for i := 76; i < sector; i += 4 { // DIFAT: FAT in sector 0
		le.PutUint32(b[i:], 0xffffffff)
	}
	le.PutUint32(b[76:], 0)
	fat := b[sector : 2*sector]
	for i := 0; i < sector; i += 4 {
		le.PutUint32(fat[i:], 0xffffffff)
	}
	le.PutUint32(fat[0:], 0xfffffffd) // sector 0: FAT
	le.PutUint32(fat[4:], 0xfffffffe) // sector 1: directory, end of chain
	dir := b[2*sector:]
	wordDoc8 := []byte{0x06, 0x09, 0x02, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46}
	dirEntry(dir[0:128], "Root Entry", 5, 1, wordDoc8)
	dirEntry(dir[128:256], "WordDocument", 2, 0xffffffff, nil)
	return b
}

// dirEntry fills one 128-byte OLE directory entry.
func dirEntry(e []byte, name string, typ byte, child uint32, clsid []byte) {
	le := binary.LittleEndian
	units := utf16.Encode([]rune(name))
	for i, u := range units {
		le.PutUint16(e[2*i:], u)
	}
	le.PutUint16(e[64:], uint16(2*len(units)+2))
	e[66] = typ
	e[67] = 1 // black
	le.PutUint32(e[68:], 0xffffffff)
	le.PutUint32(e[72:], 0xffffffff)
	le.PutUint32(e[76:], child)
	copy(e[80:], clsid)
	le.PutUint32(e[116:], 0xfffffffe)
}

func sampleELF() []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	b[16], b[18] = 2, 0x3e // ET_EXEC, x86-64
	return b
}

func sampleEXE() []byte {
	b := make([]byte, 128)
	copy(b, "MZ")
	return b
}
