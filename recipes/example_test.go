package recipes_test

import (
	"fmt"

	"github.com/coop-diffusion/coop/recipes"
)

func ExampleLoadBytes() {
	src := `version: 1
models:
  base: {path: models/sd15}
  xl: {path: models/sdxl}
prompt: a photo of a cat
stages:
  - participants:
      - model: base
      - model: xl
        weight: [[1, 0.2], [0, 0.8]]
`
	r, err := recipes.Loader{SkipFileChecks: true}.LoadBytes("blend.yaml", []byte(src), "/recipes")
	if err != nil {
		fmt.Println(err)
		return
	}
	st := r.Stages[0]
	fmt.Println("primary:", st.Primary().Model, "at", r.Path(r.Models[st.Primary().Model].Path))
	for _, t := range []float64{1, 0.5, 0} {
		fmt.Printf("t=%.1f weight of xl %.2f\n", t, st.Participants[1].Weight.At(t))
	}
	fmt.Println("curve written at", r.Pos("stages.0.participants.1.weight"))
	// Output:
	// primary: base at /recipes/models/sd15
	// t=1.0 weight of xl 0.20
	// t=0.5 weight of xl 0.50
	// t=0.0 weight of xl 0.80
	// curve written at blend.yaml:10:17
}

func ExampleLoadBytes_errors() {
	src := `version: 1
models:
  base: {path: models/sd15}
stpes: 20
stages:
  - model: bsae
`
	_, err := recipes.Loader{SkipFileChecks: true}.LoadBytes("cat.yaml", []byte(src), ".")
	fmt.Println(err)
	// Output:
	// cat.yaml:4:1: unknown field "stpes" (did you mean "steps"?)
	// cat.yaml:6:12: stages.0.participants.0.model: unknown model "bsae" (did you mean "base"?); the recipe's models are base
}

func ExampleLoader_sets() {
	src := "version: 1\nmodels: {base: {path: models/sd15}}\nsteps: 30\n"
	l := recipes.Loader{SkipFileChecks: true, Sets: []string{"steps=20", "prompt=a cat: asleep"}}
	r, err := l.LoadBytes("cat.yaml", []byte(src), ".")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Steps, r.Prompt)

	l.Sets = []string{"steps=many"}
	_, err = l.LoadBytes("cat.yaml", []byte(src), ".")
	fmt.Println(err)
	// Output:
	// 20 a cat: asleep
	// --set steps=many: steps: expected an integer, got "many"
}

func ExampleExpand() {
	src := `version: 1
models:
  a: {path: models/sd15}
  b: {path: models/sdxl}
stages:
  - participants: [{model: a}, {model: b, weight: 0.5}]
sweep:
  stages.0.participants.1.weight: [0, 0.5, 1]
  seed: [1, 2]
`
	r, err := recipes.Loader{SkipFileChecks: true}.LoadBytes("sweep.yaml", []byte(src), ".")
	if err != nil {
		fmt.Println(err)
		return
	}
	variants, err := recipes.Expand(r)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("contact sheet", r.Sweep.Shape())
	for _, v := range variants {
		name, _ := v.Recipe.Output.FileName(recipes.NameVars{Recipe: r.Name(), Seed: *v.Recipe.Seed, Variant: v.Number})
		fmt.Printf("%d %-17s %s\n", v.Number, v.Label, name)
	}
	// Output:
	// contact sheet [3 2]
	// 0 weight=0 seed=1   sweep-0-1.png
	// 1 weight=0 seed=2   sweep-1-2.png
	// 2 weight=0.5 seed=1 sweep-2-1.png
	// 3 weight=0.5 seed=2 sweep-3-2.png
	// 4 weight=1 seed=1   sweep-4-1.png
	// 5 weight=1 seed=2   sweep-5-2.png
}
