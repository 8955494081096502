package faults

import (
	"fmt"
	"os"

	"google.golang.org/protobuf/encoding/protowire"
)

// ONNX field numbers (onnx.proto) that StampOpset rewrites.
const (
	modelOpsetImport = 8 // ModelProto.opset_import
	opsetDomain      = 1 // OperatorSetIdProto.domain
	opsetVersion     = 2 // OperatorSetIdProto.version
)

// StampOpset rewrites the model file at path so that it claims version of
// the default ONNX domain, leaving its graph and weights as they are: a
// model exported for a runtime newer (or older) than the one at hand.
func StampOpset(path string, version int64) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, found, err := stampOpset(data, version)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !found {
		return fmt.Errorf("%s: no opset_import of the default domain", path)
	}
	return os.WriteFile(path, out, 0o644)
}

func stampOpset(data []byte, version int64) ([]byte, bool, error) {
	var out []byte
	found := false
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return nil, false, protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, data[n:])
		if m < 0 {
			return nil, false, protowire.ParseError(m)
		}
		field := data[:n+m]
		data = data[n+m:]
		if num != modelOpsetImport || typ != protowire.BytesType {
			out = append(out, field...)
			continue
		}
		msg, _ := protowire.ConsumeBytes(field[n:])
		domain, err := opsetDomainOf(msg)
		if err != nil {
			return nil, false, err
		}
		if domain != "" && domain != "ai.onnx" {
			out = append(out, field...)
			continue
		}
		found = true
		var e []byte
		if domain != "" {
			e = protowire.AppendTag(e, opsetDomain, protowire.BytesType)
			e = protowire.AppendString(e, domain)
		}
		e = protowire.AppendTag(e, opsetVersion, protowire.VarintType)
		e = protowire.AppendVarint(e, uint64(version))
		out = protowire.AppendTag(out, modelOpsetImport, protowire.BytesType)
		out = protowire.AppendBytes(out, e)
	}
	return out, found, nil
}

func opsetDomainOf(msg []byte) (string, error) {
	domain := ""
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return "", protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, msg[n:])
		if m < 0 {
			return "", protowire.ParseError(m)
		}
		if num == opsetDomain && typ == protowire.BytesType {
			s, _ := protowire.ConsumeString(msg[n:])
			domain = s
		}
		msg = msg[n+m:]
	}
	return domain, nil
}
