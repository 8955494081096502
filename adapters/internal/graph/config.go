package graph

// Number returns config[key] as a number; ok is false when the key is
// missing or not a number.
func Number(config map[string]any, key string) (float64, bool) {
	v, ok := config[key].(float64)
	return v, ok
}

// Int returns config[key] as an integer; ok is false when the key is
// missing, not a number or not whole.
func Int(config map[string]any, key string) (int, bool) {
	v, ok := Number(config, key)
	if !ok || v != float64(int(v)) {
		return 0, false
	}
	return int(v), true
}

// Numbers returns config[key] as a list of numbers; ok is false when the
// key is missing or any element is not a number.
func Numbers(config map[string]any, key string) ([]float64, bool) {
	list, ok := config[key].([]any)
	if !ok {
		return nil, false
	}
	out := make([]float64, len(list))
	for i, e := range list {
		v, ok := e.(float64)
		if !ok {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

// Ints returns config[key] as a list of whole numbers.
func Ints(config map[string]any, key string) ([]int, bool) {
	vs, ok := Numbers(config, key)
	if !ok {
		return nil, false
	}
	out := make([]int, len(vs))
	for i, v := range vs {
		if v != float64(int(v)) {
			return nil, false
		}
		out[i] = int(v)
	}
	return out, true
}

// Size returns config[key] as an image or latent size: a number (square)
// or a list of two numbers [height, width].
func Size(config map[string]any, key string) (h, w int, ok bool) {
	if v, ok := Int(config, key); ok {
		return v, v, true
	}
	if vs, ok := Ints(config, key); ok && len(vs) == 2 {
		return vs[0], vs[1], true
	}
	return 0, 0, false
}

// Bool returns config[key] as a boolean.
func Bool(config map[string]any, key string) (v, ok bool) {
	v, ok = config[key].(bool)
	return v, ok
}
