package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"github.com/coop-diffusion/coop/adapters/clip"
)

func init() {
	register(&cli.Command{
		Name:      "tokenize",
		Usage:     "show the CLIP token ids of a text",
		ArgsUsage: "TEXT...",
		Description: "coop tokenize reads a CLIP tokenizer (a folder with vocab.json and merges.txt, or a model folder " +
			"with tokenizer/ inside) and prints the full sequence of ids for TEXT before truncation or padding: " +
			"the start token, the text's tokens, the end token. Several arguments are joined with spaces.\n\n" +
			"The text is taken literally unless --weighted is given, which reads the prompt-weighting syntax " +
			"that prompts for generation use: (text) and [text] multiply a weight by 1.1 and 1/1.1, " +
			"(text:1.3) sets it, \\( \\) \\[ \\] are literal brackets, BREAK starts a new window.\n\n" +
			"A sequence longer than the encoder's 77 ids would be truncated by a plain encoding; by default the " +
			"engine encodes long prompts in several 77-id windows instead (--no-long-prompts truncates).\n\n" +
			"With --json the output is an object: ids (the full sequence), tokens (their vocabulary entries), " +
			"weights (one per id), count (the number of ids), text_tokens, truncated (whether one 77-id " +
			"sequence drops tokens), windows (how many 77-id windows the engine encodes), pad_id and length.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer folder, or model folder holding tokenizer/ (use the tokenizer_2 folder for SDXL's second encoder)"},
			&cli.BoolFlag{Name: "json", Usage: "print a JSON object instead of a table"},
			&cli.BoolFlag{Name: "weighted", Usage: "read the prompt-weighting syntax: (text:1.3), (text), [text], BREAK"},
			&cli.BoolFlag{Name: "no-long-prompts", Usage: "count one 77-id window, truncating as diffusers does, instead of splitting long prompts into windows"},
		},
		Action: tokenizeAction,
	})
}

// tokenizeReport is the --json output.
type tokenizeReport struct {
	IDs        []int     `json:"ids"`
	Tokens     []string  `json:"tokens"`
	Weights    []float32 `json:"weights"`
	Count      int       `json:"count"`
	TextTokens int       `json:"text_tokens"`
	Truncated  bool      `json:"truncated"`
	Windows    int       `json:"windows"`
	PadID      int       `json:"pad_id"`
	Length     int       `json:"length"`
}

func tokenizeAction(ctx context.Context, cmd *cli.Command) error {
	dir := cmd.String("tokenizer")
	if dir == "" {
		return badInputf("tokenize: --tokenizer DIR is required")
	}
	if cmd.NArg() == 0 {
		return badInputf("tokenize: no text given (coop tokenize --tokenizer DIR TEXT)")
	}
	text := strings.Join(cmd.Args().Slice(), " ")
	tok, err := clip.Load(dir)
	if err != nil {
		return badInput(err)
	}
	opt := clip.Options{Truncate: cmd.Bool("no-long-prompts"), Literal: !cmd.Bool("weighted")}
	frags := []clip.Fragment{{Text: text, Weight: 1}}
	if !opt.Literal {
		if frags, err = clip.ParseWeights(text); err != nil {
			return badInput(err)
		}
	}
	enc, err := tok.EncodePrompt(text, opt)
	if err != nil {
		return badInput(err)
	}

	ids, weights := tok.EncodeFragments(frags)
	r := tokenizeReport{
		IDs:     []int{tok.Start()},
		Weights: []float32{1},
		Windows: enc.Windows(),
		PadID:   tok.Pad(),
		Length:  tok.Length(),
	}
	for i, id := range ids {
		if id < 0 { // BREAK: it shapes the windows, it is no token
			continue
		}
		r.IDs = append(r.IDs, id)
		r.Weights = append(r.Weights, weights[i])
	}
	r.IDs = append(r.IDs, tok.End())
	r.Weights = append(r.Weights, 1)
	for _, id := range r.IDs {
		r.Tokens = append(r.Tokens, tok.Token(id))
	}
	r.Count = len(r.IDs)
	r.TextTokens = r.Count - 2
	r.Truncated = r.Count > tok.Length()

	out := cmd.Root().Writer
	if cmd.Bool("json") {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	// The text column shows the bytes a token stands for; a token holding
	// part of a multi-byte character shows them escaped.
	if opt.Literal {
		fmt.Fprintln(tw, "#\tid\ttoken\ttext")
	} else {
		fmt.Fprintln(tw, "#\tid\ttoken\ttext\tweight")
	}
	for i, id := range r.IDs {
		text := strconv.Quote(string(tok.TokenBytes(id)))
		if opt.Literal {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\n", i, id, r.Tokens[i], text)
		} else {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%.4g\n", i, id, r.Tokens[i], text, r.Weights[i])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	per := tok.Length() - 2
	fmt.Fprintf(out, "%d ids: start, %d text tokens, end; padding id %d %q\n", r.Count, r.TextTokens, r.PadID, tok.Token(r.PadID))
	switch {
	case opt.Truncate && enc.Truncated:
		fmt.Fprintf(out, "truncated: only the first %d text tokens fit in %d ids, the rest is dropped\n", per, tok.Length())
	case enc.Windows() > 1:
		fmt.Fprintf(out, "%d windows of %d ids, encoded separately and concatenated\n", enc.Windows(), tok.Length())
	}
	return nil
}
