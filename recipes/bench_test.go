package recipes

import "testing"

func BenchmarkLoadBytes(b *testing.B) {
	dir := recipeDir(b)
	data := []byte(fullRecipe)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadBytes("full.yaml", data, dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpand measures a 5 x 2 sweep: ten decodes of the recipe.
func BenchmarkExpand(b *testing.B) {
	dir := recipeDir(b)
	src := twoModels + "sweep:\n  stages.1.participants.1.weight: [0, 0.25, 0.5, 0.75, 1]\n  seed: [10, 20]\n"
	r, err := LoadBytes("r.yaml", []byte(src), dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Expand(r); err != nil {
			b.Fatal(err)
		}
	}
}
