package controlnet

import (
	"context"
	"fmt"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/adapters/internal/folder"
	"github.com/coop-diffusion/coop/adapters/internal/graph"
	"github.com/coop-diffusion/coop/internal/modelfolder"
)

func init() { adapters.Register(adapters.ControlNet, loader{}) }

// loader opens split ControlNet folders: a controlnet/model.onnx, or a
// folder (or file) whose only model takes controlnet_cond.
type loader struct{}

func (loader) Check(f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions) error {
	if _, err := assemble(f, info, opts); err != nil {
		return err
	}
	info.Parts = adapters.Parts{ControlNet: true}
	return nil
}

func (loader) Load(ctx context.Context, f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions) (*adapters.Model, error) {
	g, err := assemble(f, info, opts)
	if err != nil {
		return nil, err
	}
	s := NewSplit(info, g)
	info.Parts = adapters.Parts{ControlNet: true}
	m := &adapters.Model{Info: *info, Controls: []adapters.ControlNetModel{s}}
	m.Own(s)
	return m, nil
}

func assemble(f *modelfolder.Folder, info *adapters.Info, opts adapters.LoadOptions) (*graph.Model, error) {
	c := f.Component("controlnet")
	if c == nil || !c.HasModel() {
		c = nil
		for _, m := range f.Models() {
			if m.Signature.Input(CondInput) != nil {
				if c != nil {
					return nil, fmt.Errorf("model %q (%s): two ControlNet graphs, %s and %s; point the recipe at one", info.Name, f.Path, c.ModelPath, m.ModelPath)
				}
				c = m
			}
		}
	}
	if c == nil {
		return nil, fmt.Errorf("model %q (%s): no ControlNet graph (controlnet/model.onnx, or a model with input %s)", info.Name, f.Path, CondInput)
	}
	info.Components = []adapters.Component{{Role: "controlnet", Path: c.ModelPath}}
	if c.Name == "controlnet" && f.Component("unet") != nil && !f.SingleFile {
		// A diffusers ControlNet pipeline folder named as a ControlNet
		// (family: controlnet) is its controlnet/ subfolder: a model of
		// its own, not one fused into the folder's unet.
		info.Dir = c.Dir
	}
	g := graph.FromComponent(info.Name, "controlnet", c, opts.Session)
	need := "a split ControlNet"
	sample, err := g.Require("sample", need)
	if err != nil {
		return nil, err
	}
	if err := g.CheckRank(sample, "input", 4); err != nil {
		return nil, err
	}
	if err := g.CheckFloat(sample, "input"); err != nil {
		return nil, err
	}
	info.FixedLatent = folder.FixedLatent(g, "sample")
	info.Channels = 4
	if n, ok := graph.Dim(sample, 1); ok {
		info.Channels = n
	}
	if _, err := g.Require("timestep", need); err != nil {
		return nil, err
	}
	if ctx := g.Input("encoder_hidden_states"); ctx != nil {
		if err := g.CheckRank(ctx, "input", 3); err != nil {
			return nil, err
		}
		info.ContextWidth, _ = graph.LastDim(ctx)
	}
	cond, err := g.Require(CondInput, need)
	if err != nil {
		return nil, err
	}
	if err := g.CheckRank(cond, "input", 4); err != nil {
		return nil, err
	}
	if err := g.CheckDim(cond, "input", 1, 3, "the control image channel count"); err != nil {
		return nil, err
	}
	if v := g.Input(ScaleInput); v != nil {
		if err := g.CheckRank(v, "input", 0, 1); err != nil {
			return nil, err
		}
	}
	ports, err := Ports(g.Sig.Outputs)
	if err != nil {
		return nil, g.Errorf("%v", err)
	}
	if len(ports.Down) == 0 {
		return nil, g.Errorf("a split ControlNet outputs down-block residuals (down_block_res_samples_N); the graph's outputs are %s", graph.List(g.Sig.Outputs))
	}
	info.Control = ports
	return g, nil
}
