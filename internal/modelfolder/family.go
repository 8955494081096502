package modelfolder

import "fmt"

// Model families DetectFamily tells apart.
const (
	SD1            = "sd1"
	SD2            = "sd2"
	SDXL           = "sdxl"
	SDXLRefiner    = "sdxl-refiner"
	CascadePrior   = "cascade-prior"
	CascadeDecoder = "cascade-decoder"
	CascadeVQGAN   = "cascade-vqgan"
	ControlNet     = "controlnet"
)

// Pipeline classes of model_index.json, diffusers' own and the ONNX ones
// of diffusers (Onnx...) and optimum (ORT...).
var (
	sdClasses = set("StableDiffusionPipeline", "OnnxStableDiffusionPipeline", "ORTStableDiffusionPipeline",
		"StableDiffusionImg2ImgPipeline", "OnnxStableDiffusionImg2ImgPipeline", "ORTStableDiffusionImg2ImgPipeline",
		"StableDiffusionInpaintPipeline", "OnnxStableDiffusionInpaintPipeline", "ORTStableDiffusionInpaintPipeline")
	sdControlNetClasses = set("StableDiffusionControlNetPipeline", "OnnxStableDiffusionControlNetPipeline",
		"ORTStableDiffusionControlNetPipeline", "StableDiffusionControlNetImg2ImgPipeline")
	sdxlClasses = set("StableDiffusionXLPipeline", "ORTStableDiffusionXLPipeline",
		"StableDiffusionXLControlNetPipeline", "ORTStableDiffusionXLControlNetPipeline")
	sdxlImg2ImgClasses = set("StableDiffusionXLImg2ImgPipeline", "ORTStableDiffusionXLImg2ImgPipeline",
		"StableDiffusionXLInpaintPipeline", "ORTStableDiffusionXLInpaintPipeline")
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// denoiserOrder is the order in which components are asked what family
// they belong to: the denoiser decides, a ControlNet or a VQGAN only when
// the folder holds nothing else.
var denoiserOrder = []string{"unet", "prior", "decoder", "controlnet", "vqgan"}

// DetectFamily names the family of the models in f (SD1, SD2, SDXL, ...)
// and the evidence for it. It trusts model_index.json's _class_name where
// the class determines the family, checks graph signatures where the class
// leaves a choice (SD 1.x or 2.x by the unet's context width, SDXL base or
// refiner by its time_ids width) and falls back to the signatures alone
// (and then the components' config.json) without a known class. It returns
// "" when it cannot tell, with a reason that says what it saw.
func DetectFamily(f *Folder) (family, reason string) {
	var classWhy string
	if f.ClassName != "" {
		if family, classWhy = fromClassName(f); family != "" {
			return family, classWhy
		}
	}
	var firstWhy string
	for _, c := range orderedModels(f) {
		fam, why := fromComponent(f, c)
		if fam != "" {
			return fam, why
		}
		if firstWhy == "" {
			firstWhy = why
		}
	}
	switch {
	case classWhy != "":
		return "", classWhy
	case firstWhy != "":
		return "", firstWhy
	case f.ClassName != "":
		return "", fmt.Sprintf("model_index.json _class_name %s is not a pipeline coop knows, and no model input tells the family", f.ClassName)
	}
	return "", "no model input tells the family"
}

func orderedModels(f *Folder) []*Component {
	var out []*Component
	used := make(map[*Component]bool)
	for _, name := range denoiserOrder {
		if c := f.Component(name); c != nil && c.HasModel() {
			out = append(out, c)
			used[c] = true
		}
	}
	for _, c := range f.Models() {
		if !used[c] {
			out = append(out, c)
		}
	}
	return out
}

func fromClassName(f *Folder) (string, string) {
	cls := "model_index.json _class_name " + f.ClassName
	unet := f.Component("unet")
	switch {
	case sdClasses[f.ClassName], sdControlNetClasses[f.ClassName]:
		with := ""
		if sdControlNetClasses[f.ClassName] {
			with = ", with a controlnet"
		}
		width, from := contextWidth(unet)
		switch width {
		case 768:
			return SD1, fmt.Sprintf("%s and %s is 768 (SD 1.x)%s", cls, from, with)
		case 1024:
			return SD2, fmt.Sprintf("%s and %s is 1024 (SD 2.x)%s%s", cls, from, with, predictionNote(f))
		case 0:
			return "", fmt.Sprintf("%s, but the unet's cross-attention width is unknown, so SD 1.x and 2.x cannot be told apart", cls)
		}
		return "", fmt.Sprintf("%s, but %s is %d, neither 768 (SD 1.x) nor 1024 (SD 2.x)", cls, from, width)
	case sdxlClasses[f.ClassName], sdxlImg2ImgClasses[f.ClassName]:
		if w := timeIDsWidth(unet); w == 5 {
			return SDXLRefiner, fmt.Sprintf("%s and unet time_ids width is 5 (aesthetic score instead of target size)", cls)
		} else if w == 6 {
			return SDXL, fmt.Sprintf("%s and unet time_ids width is 6", cls)
		}
		if sdxlImg2ImgClasses[f.ClassName] {
			if aes, _ := f.Index["requires_aesthetics_score"].(bool); aes {
				return SDXLRefiner, fmt.Sprintf("%s with requires_aesthetics_score", cls)
			}
		}
		return SDXL, cls
	case f.ClassName == "StableCascadePriorPipeline":
		return CascadePrior, cls
	case f.ClassName == "StableCascadeDecoderPipeline":
		return CascadeDecoder, cls
	}
	return "", ""
}

// fromComponent classifies one model by its graph inputs, then by its
// config.json and name.
func fromComponent(f *Folder, c *Component) (string, string) {
	sig := c.Signature
	has := func(name string) bool { return sig.Input(name) != nil }
	who := c.Name
	switch {
	case has("controlnet_cond"):
		return ControlNet, fmt.Sprintf("%s has input controlnet_cond", who)
	case has("timestep_ratio") && has("clip_text"):
		return CascadePrior, fmt.Sprintf("%s has inputs timestep_ratio and clip_text (Stable Cascade stage C)", who)
	case has("timestep_ratio") && has("effnet"):
		return CascadeDecoder, fmt.Sprintf("%s has inputs timestep_ratio and effnet (Stable Cascade stage B)", who)
	case has("text_embeds") && has("time_ids"):
		switch timeIDsWidth(c) {
		case 5:
			return SDXLRefiner, fmt.Sprintf("%s has inputs text_embeds and time_ids, time_ids width 5 (aesthetic score instead of target size)", who)
		case 6:
			return SDXL, fmt.Sprintf("%s has inputs text_embeds and time_ids, time_ids width 6", who)
		}
		return SDXL, fmt.Sprintf("%s has inputs text_embeds and time_ids", who)
	case has("encoder_hidden_states"):
		width, from := contextWidth(c)
		switch width {
		case 768:
			return SD1, fmt.Sprintf("%s is 768 (SD 1.x)", from)
		case 1024:
			return SD2, fmt.Sprintf("%s is 1024 (SD 2.x)%s", from, predictionNote(f))
		case 0:
			return "", fmt.Sprintf("%s has encoder_hidden_states of unknown width", who)
		}
		return "", fmt.Sprintf("%s is %d, neither 768 (SD 1.x) nor 1024 (SD 2.x)", from, width)
	}
	class, _ := c.Config["_class_name"].(string)
	switch {
	case class == "ControlNetModel":
		return ControlNet, fmt.Sprintf("%s/config.json _class_name ControlNetModel", who)
	case class == "PaellaVQModel":
		return CascadeVQGAN, fmt.Sprintf("%s/config.json _class_name PaellaVQModel", who)
	case class == "StableCascadeUNet" && c.Config["effnet_in_channels"] != nil:
		return CascadeDecoder, fmt.Sprintf("%s/config.json _class_name StableCascadeUNet with effnet_in_channels", who)
	case class == "StableCascadeUNet":
		return CascadePrior, fmt.Sprintf("%s/config.json _class_name StableCascadeUNet without effnet_in_channels", who)
	case c.Name == "vqgan":
		return CascadeVQGAN, "component vqgan (Stable Cascade stage A)"
	}
	return "", ""
}

// contextWidth is the width of the unet's encoder_hidden_states, from the
// graph or else from config.json cross_attention_dim; 0 when unknown.
func contextWidth(c *Component) (int64, string) {
	if c == nil || c.Signature == nil {
		return 0, ""
	}
	if in := c.Signature.Input("encoder_hidden_states"); in != nil && len(in.Dims) == 3 && in.Dims[2].Fixed() {
		return in.Dims[2].Value, c.Name + " encoder_hidden_states width"
	}
	if w, ok := c.Config["cross_attention_dim"].(float64); ok {
		return int64(w), c.Name + "/config.json cross_attention_dim"
	}
	return 0, ""
}

// timeIDsWidth is the width of an SDXL unet's time_ids input, 0 when
// unknown.
func timeIDsWidth(c *Component) int64 {
	if c == nil || c.Signature == nil {
		return 0
	}
	in := c.Signature.Input("time_ids")
	if in == nil || len(in.Dims) == 0 {
		return 0
	}
	if d := in.Dims[len(in.Dims)-1]; d.Fixed() {
		return d.Value
	}
	return 0
}

func predictionNote(f *Folder) string {
	switch p := f.PredictionType(); p {
	case "":
		return ""
	case "v_prediction":
		return "; scheduler prediction_type v_prediction (768-v)"
	default:
		return "; scheduler prediction_type " + p
	}
}
