package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"strings"

	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// sheetCell is one image of a contact sheet and the label under it.
type sheetCell struct {
	img   image.Image
	label string
}

// Contact sheet geometry, in pixels. The font is basicfont's 7x13 X11
// face: no font files to ship, and legible at this size.
const (
	sheetMargin   = 12
	sheetGap      = 10
	labelLineH    = 15
	labelMaxLines = 3
	glyphW        = 7
)

var (
	sheetBackground = color.NRGBA{R: 255, G: 255, B: 255, A: 255}
	sheetInk        = color.NRGBA{R: 20, G: 20, B: 20, A: 255}
)

// contactSheet lays cells out in a grid of cols columns, each image
// scaled (Catmull-Rom, aspect kept) to fit a cell x cell square with its
// label under it, wrapped at spaces to the cell's width, and a title line
// above the grid when title is not empty.
func contactSheet(title string, cells []sheetCell, cols, cell int) *image.NRGBA {
	if cols < 1 {
		cols = 1
	}
	if cols > len(cells) && len(cells) > 0 {
		cols = len(cells)
	}
	rows := (len(cells) + cols - 1) / cols
	charsPerLine := max(cell/glyphW, 1)
	lines := make([][]string, len(cells))
	labelLines := 1
	for i, c := range cells {
		lines[i] = wrapLabel(c.label, charsPerLine, labelMaxLines)
		labelLines = max(labelLines, len(lines[i]))
	}
	top := sheetMargin
	if title != "" {
		top += labelLineH + sheetGap/2
	}
	rowH := cell + 4 + labelLines*labelLineH
	width := 2*sheetMargin + cols*cell + (cols-1)*sheetGap
	titleW := 2*sheetMargin + len([]rune(title))*glyphW
	width = max(width, titleW)
	height := top + rows*rowH + (rows-1)*sheetGap + sheetMargin
	dst := image.NewNRGBA(image.Rect(0, 0, width, height))
	draw.Draw(dst, dst.Bounds(), &image.Uniform{C: sheetBackground}, image.Point{}, draw.Src)
	if title != "" {
		drawText(dst, sheetMargin, sheetMargin+labelLineH-4, title)
	}
	for i, c := range cells {
		col, row := i%cols, i/cols
		x0 := sheetMargin + col*(cell+sheetGap)
		y0 := top + row*(rowH+sheetGap)
		if c.img != nil {
			b := c.img.Bounds()
			w, h := cell, cell
			if b.Dx() >= b.Dy() {
				h = max(1, cell*b.Dy()/max(b.Dx(), 1))
			} else {
				w = max(1, cell*b.Dx()/max(b.Dy(), 1))
			}
			if b.Dx() <= cell && b.Dy() <= cell {
				w, h = b.Dx(), b.Dy() // never enlarge
			}
			ox, oy := x0+(cell-w)/2, y0+(cell-h)/2
			draw.CatmullRom.Scale(dst, image.Rect(ox, oy, ox+w, oy+h), c.img, b, draw.Src, nil)
		}
		for k, line := range lines[i] {
			tx := x0 + (cell-len([]rune(line))*glyphW)/2
			drawText(dst, tx, y0+cell+4+(k+1)*labelLineH-4, line)
		}
	}
	return dst
}

// drawText writes s with its baseline at y.
func drawText(dst *image.NRGBA, x, y int, s string) {
	d := font.Drawer{Dst: dst, Src: image.NewUniform(sheetInk), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// wrapLabel breaks s at spaces into lines of at most width characters
// (cutting words longer than a line), keeping at most maxLines; a label
// that does not fit ends in "...".
func wrapLabel(s string, width, maxLines int) []string {
	var lines []string
	cur := ""
	flush := func() {
		lines = append(lines, cur)
		cur = ""
	}
	for _, word := range strings.Fields(s) {
		r := []rune(word)
		for len(r) > width {
			if cur != "" {
				flush()
			}
			lines = append(lines, string(r[:width]))
			r = r[width:]
		}
		word = string(r)
		switch {
		case word == "":
		case cur == "":
			cur = word
		case len([]rune(cur))+1+len([]rune(word)) <= width:
			cur += " " + word
		default:
			flush()
			cur = word
		}
	}
	if cur != "" {
		flush()
	}
	if len(lines) > maxLines {
		lines = lines[:maxLines]
		last := []rune(lines[maxLines-1])
		if len(last) > width-3 {
			last = last[:max(width-3, 0)]
		}
		lines[maxLines-1] = string(last) + "..."
	}
	return lines
}

// encodeSheet encodes a contact sheet as PNG, with the best compression
// unless a test asks otherwise: the sheets go into READMEs.
func encodeSheet(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: sheetCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
