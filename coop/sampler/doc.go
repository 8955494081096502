// Package sampler holds noise schedules and samplers on one noise-level
// axis, so that models which name time differently can share a trajectory.
//
// # One axis: abar
//
// SD 1.x, SD 2.x and SDXL take a discrete timestep t in [0, 999] of a beta
// table (Discrete: scaled_linear, linear, squaredcos_cap_v2); Stable
// Cascade takes a continuous timestep_ratio r in [0, 1] of a cosine schedule
// (Cosine). Fusing their predictions only means something at equal noise, so
// everything here is indexed by abar, the cumulative signal level of the
// variance-preserving (VP) forward process
//
//	z = sqrt(abar) x0 + sqrt(1 - abar) eps
//
// with the equivalent views sigma = sqrt((1-abar)/abar) (Sigma,
// AbarFromSigma) and log-SNR = log(abar/(1-abar)) (LogSNR,
// AbarFromLogSNR). A Schedule turns abar into a model's own time and back:
// Discrete.AbarToTimestep interpolates log sigma between table entries and
// returns a fractional t (AbarToIntTimestep rounds it, for graphs whose
// timestep input is an integer), Cosine.AbarToRatio inverts Cascade's
// cosine. A model adapter asks the schedule of its own model family, not
// the one of the trajectory it takes part in.
//
// # Plans and samplers
//
// A Plan lists a sampler's steps from most to least noise. Each Step gives
// the Timestep the trajectory's own model is told, the noise level Abar the
// model sees, the level AbarNext the step moves to (1 after the last step)
// and Sigma. Splits cut a plan by index: SplitAtFraction (SDXL's
// denoising_end / denoising_start rule, for handoffs), StrengthStart
// (img2img) and SplitAtAbar (a resolution switch or a handoff between plans
// that differ).
//
// A Sampler advances one trajectory. The engine always talks VP: it shows
// the model ModelInput(i), converts the model's output to epsilon with
// ToEpsilon, fuses epsilons if several models take part, and calls Step.
// Samplers that keep their state in sigma space (euler, euler_a: x = z
// sqrt(sigma^2+1)) convert in ModelInput and SetFromModelSpace, so the
// engine never needs to know. SetFromModelSpace starts a trajectory at any
// step from a VP latent: img2img, the second model of a handoff, or the
// high-resolution model after a switch. Step allocates nothing once the
// trajectory has started.
//
// Stochastic samplers (ddpm, euler_a, lcm, ddpm_wuerstchen, ddim with
// Eta > 0) draw fresh noise from Config.Noise, a NoiseSource such as
// latent.NewStream(seed, "trajectory/name"), at elements i*NoiseStride
// onwards for step i; a recipe and a seed therefore always give the same
// result.
//
// # Samplers
//
//	ddim             DDIM, Eta for stochasticity         DDIMScheduler (and PNDMScheduler, which falls back to it)
//	ddpm             DDPM ancestral, fixed_small         DDPMScheduler
//	euler            Euler on the probability-flow ODE   EulerDiscreteScheduler
//	euler_a          Euler ancestral                     EulerAncestralDiscreteScheduler
//	dpmpp_2m         DPM-Solver++ 2M                     DPMSolverMultistepScheduler
//	dpmpp_2m_karras  DPM-Solver++ 2M, Karras sigmas      DPMSolverMultistepScheduler with use_karras_sigmas
//	lcm              Latent Consistency Model            LCMScheduler
//	ddpm_wuerstchen  Stable Cascade's DDPM, cosine       DDPMWuerstchenScheduler
//
// ForClass picks the sampler for a model folder's scheduler class when a
// recipe names none, the closest one coop has for classes it does not
// implement (UniPC gets dpmpp_2m, Heun and LMS euler, others ddim).
//
// The equations are diffusers' (each sampler's type comment states them)
// and the conformance tests check them against an independent float64
// evaluation. Tables are built in float64, diffusers' in float32; the two
// agree to about 1e-6 relative. Each step computes in float64 and rounds to
// float32 once.
//
// Configurations come from DefaultConfig (Stable Diffusion's scheduler
// values) or from a model folder's scheduler/scheduler_config.json
// (ReadSchedulerConfig).
//
// # Adding a sampler
//
// Register a Constructor under a canonical name, with diffusers class
// names as aliases, from an init function:
//
//	func init() {
//		sampler.Register("unipc", "UniPC multistep", newUniPC, "UniPCMultistepScheduler")
//	}
//
// The constructor validates its Config and returns a Sampler whose Plan
// fills every Step field; New then finds it by name. The conformance suite
// runs every registered sampler, so a new one needs a row there.
package sampler
