package recipes

import (
	"bytes"

	"go.yaml.in/yaml/v3"
)

// Marshal writes the recipe as YAML in the schema Load reads, with every
// stage's participants spelled out and the defaults Load filled written
// explicitly. A caller that fills the model-dependent defaults (size,
// sampler, steps, guidance) and the models' SHA256 first gets the fully
// resolved recipe coop embeds in the PNGs it writes; loading that text
// again gives an equal recipe.
func (r *Recipe) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Clone returns a deep copy of r that shares nothing mutable with it; it
// keeps r's positions, so its errors still point into the recipe file.
func (r *Recipe) Clone() *Recipe {
	c := *r
	if r.Models != nil {
		c.Models = make(map[string]*Model, len(r.Models))
		for k, m := range r.Models {
			if m != nil {
				mc := *m
				m = &mc
			}
			c.Models[k] = m
		}
	}
	c.Seed = clonePtr(r.Seed)
	c.Seeds = append([]uint64(nil), r.Seeds...)
	if r.Seeds == nil {
		c.Seeds = nil
	}
	c.Guidance = clonePtr(r.Guidance)
	c.Eta = clonePtr(r.Eta)
	if r.Stages != nil {
		c.Stages = make([]*Stage, len(r.Stages))
		for i, s := range r.Stages {
			c.Stages[i] = s.clone()
		}
	}
	if r.Img2Img != nil {
		im := *r.Img2Img
		c.Img2Img = &im
	}
	if r.Sweep != nil {
		c.Sweep = make(Sweep, len(r.Sweep))
		for i, a := range r.Sweep {
			a.Values = append([]string(nil), a.Values...)
			a.nodes = append([]*yaml.Node(nil), a.nodes...) // never modified
			c.Sweep[i] = a
		}
	}
	c.modelOrder = append([]string(nil), r.modelOrder...)
	return &c
}

func (s *Stage) clone() *Stage {
	if s == nil {
		return nil
	}
	c := *s
	c.Until = clonePtr(s.Until)
	if s.Participants != nil {
		c.Participants = make([]*Participant, len(s.Participants))
		for i, p := range s.Participants {
			c.Participants[i] = p.clone()
		}
	}
	return &c
}

func (p *Participant) clone() *Participant {
	if p == nil {
		return nil
	}
	c := *p
	if p.Weight != nil {
		w := *p.Weight
		w.Points = append([]WeightPoint(nil), p.Weight.Points...)
		c.Weight = &w
	}
	c.Prompt = clonePtr(p.Prompt)
	c.Negative = clonePtr(p.Negative)
	c.Guidance = clonePtr(p.Guidance)
	c.Bridge = clonePtr(p.Bridge)
	if p.Controls != nil {
		c.Controls = make([]*Control, len(p.Controls))
		for i, ctl := range p.Controls {
			c.Controls[i] = clonePtr(ctl)
		}
	}
	return &c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

// MakePathsAbsolute rewrites every path in r (model folders, control and
// input images, interposers, the output folder) as an absolute path, so
// that the recipe means the same files wherever it is written, such as
// inside a PNG in the output folder.
func (r *Recipe) MakePathsAbsolute() {
	for _, m := range r.Models {
		if m != nil {
			m.Path = r.Path(m.Path)
		}
	}
	for _, s := range r.Stages {
		if s == nil {
			continue
		}
		for _, p := range s.Participants {
			if p == nil {
				continue
			}
			if p.Bridge != nil {
				p.Bridge.Interposer = r.Path(p.Bridge.Interposer)
				p.Bridge.Back = r.Path(p.Bridge.Back)
			}
			for _, c := range p.Controls {
				if c != nil {
					c.Image = r.Path(c.Image)
				}
			}
		}
	}
	if r.Img2Img != nil {
		r.Img2Img.Image = r.Path(r.Img2Img.Image)
	}
	r.Output.Dir = r.Path(r.Output.Dir)
}
