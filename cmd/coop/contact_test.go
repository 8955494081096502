package main

import (
	"image"
	"image/color"
	"reflect"
	"strings"
	"testing"
)

func solid(w, h int, c color.NRGBA) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

// inkIn counts the pixels of r darker than mid-grey: label text.
func inkIn(img *image.NRGBA, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := img.NRGBAAt(x, y)
			if int(c.R)+int(c.G)+int(c.B) < 3*128 {
				n++
			}
		}
	}
	return n
}

func TestContactSheetLayout(t *testing.T) {
	red := color.NRGBA{R: 250, A: 255}
	blue := color.NRGBA{B: 250, A: 255}
	cells := []sheetCell{
		{solid(64, 64, red), "weight=0"},
		{solid(64, 32, blue), "weight=0.5"}, // wide: scaled to 64x32, centred
		{solid(128, 128, red), "weight=1"},  // larger than a cell: scaled down
	}
	const cell = 96
	sheet := contactSheet("sweep of weight", cells, 2, cell)
	b := sheet.Bounds()
	top := sheetMargin + labelLineH + sheetGap/2
	rowH := cell + 4 + labelLineH
	wantW := 2*sheetMargin + 2*cell + sheetGap
	wantH := top + 2*rowH + sheetGap + sheetMargin
	if b.Dx() != wantW || b.Dy() != wantH {
		t.Fatalf("sheet %dx%d, want %dx%d (2 columns, 2 rows)", b.Dx(), b.Dy(), wantW, wantH)
	}
	// Cell centres hold the images' colours.
	centre := func(i int) color.NRGBA {
		x := sheetMargin + (i%2)*(cell+sheetGap) + cell/2
		y := top + (i/2)*(rowH+sheetGap) + cell/2
		return sheet.NRGBAAt(x, y)
	}
	for i, want := range []color.NRGBA{red, blue, red} {
		if got := centre(i); got != want {
			t.Errorf("cell %d centre %v, want %v", i, got, want)
		}
	}
	// The wide image leaves background above it.
	if got := sheet.NRGBAAt(sheetMargin+cell+sheetGap+cell/2, top+2); got != sheetBackground {
		t.Errorf("above the wide image: %v, want the background", got)
	}
	// Labels: ink under every image, none in an empty cell; a title.
	for i := range 4 {
		x := sheetMargin + (i%2)*(cell+sheetGap)
		y := top + (i/2)*(rowH+sheetGap) + cell + 4
		ink := inkIn(sheet, image.Rect(x, y, x+cell, y+labelLineH))
		if (i < 3) != (ink > 10) {
			t.Errorf("label of cell %d: %d ink pixels", i, ink)
		}
	}
	if ink := inkIn(sheet, image.Rect(sheetMargin, sheetMargin, wantW, top)); ink < 50 {
		t.Errorf("title: %d ink pixels", ink)
	}
}

func TestWrapLabel(t *testing.T) {
	for _, c := range []struct {
		in    string
		width int
		want  []string
	}{
		{"weight=0.25 seed=2", 20, []string{"weight=0.25 seed=2"}},
		{"weight=0.25 seed=2", 12, []string{"weight=0.25", "seed=2"}},
		{"stages.0.participants.1.weight=0.25", 10, []string{"stages.0.p", "articipant", "s.1.wei..."}},
		{"", 10, nil},
	} {
		got := wrapLabel(c.in, c.width, 3)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("wrapLabel(%q, %d) = %q, want %q", c.in, c.width, got, c.want)
		}
		for _, line := range got {
			if len(line) > c.width && !strings.HasSuffix(line, "...") {
				t.Errorf("line %q is wider than %d", line, c.width)
			}
		}
	}
}
