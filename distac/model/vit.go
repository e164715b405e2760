package model

import (
	"fmt"
	"math"

	"github.com/distac/distac/ffi"
)

// vit is open_clip's VisionTransformer: patchify (conv1 as a matmul), class
// token, positional embedding, ln_pre, pre-norm residual blocks
// (x += attn(ln_1(x)); x += mlp(ln_2(x))), ln_post on the class token, proj.
// Forward and backward are written out per layer, llm.c style.
type vit struct {
	cfg    *Config
	layout *Layout
	grid   int // patches per side
	tokens int // grid^2 + 1 (the class token first)
	width  int
	hidden int // MLP width
	heads  int
	cpp    int // values per patch: channels * patch^2
	quick  bool
	eps    float32 // LayerNorm eps
	noProj bool    // features = ln_post of the class token (CLIPVisionModel)
}

func newViT(c *Config) *vit {
	v := c.Vision
	g := v.ImageSize / v.PatchSize
	return &vit{
		cfg: c, layout: VisionLayout(c), grid: g, tokens: g*g + 1, width: v.Width,
		hidden: int(v.MLPRatio * float64(v.Width)), heads: v.Heads,
		cpp: v.InChannels * v.PatchSize * v.PatchSize, quick: c.QuickGELU, eps: v.eps(), noProj: v.NoProj,
	}
}

func (m *vit) Config() *Config { return m.cfg }
func (m *vit) Layout() *Layout { return m.layout }

// vitLayer holds one residual block's activations.
type vitLayer struct {
	ln1, qkv, attn, xmid, ln2, fc, act ffi.Mat
	mean1, rstd1, mean2, rstd2, probs  ffi.Vec
}

type vitWorkspace struct {
	workspace
	m    *vit
	host []float32 // patchified input on the host

	patches ffi.Mat   // (B*L) x cpp; the class-token rows stay zero
	emb     ffi.Mat   // tokens before ln_pre
	preMean ffi.Vec   // ln_pre statistics
	preRstd ffi.Vec   //
	streams []ffi.Mat // residual stream entering each block, then the output
	layers  []vitLayer
	post    ffi.Mat // ln_post of the class tokens, B x width
	postM   ffi.Vec
	postR   ffi.Vec
	feat    ffi.Mat // B x embed_dim

	// backward scratch (training workspaces only)
	dx, dln, dattn, dqkv, dhid, demb, dpost ffi.Mat
}

// plan takes (or counts) every buffer of a workspace of cap images.
func (w *vitWorkspace) plan(take func(rows, cols int) ffi.Mat, vec func(n int) ffi.Vec) {
	m, bl := w.m, w.cap*w.m.tokens
	nl := 1
	if w.train {
		nl = m.cfg.Vision.Layers
	}
	w.patches = take(bl, m.cpp)
	w.emb = take(bl, m.width)
	w.preMean, w.preRstd = vec(bl), vec(bl)
	w.layers = make([]vitLayer, nl)
	for i := range w.layers {
		l := &w.layers[i]
		l.ln1, l.qkv, l.attn = take(bl, m.width), take(bl, 3*m.width), take(bl, m.width)
		l.xmid, l.ln2 = take(bl, m.width), take(bl, m.width)
		l.fc, l.act = take(bl, m.hidden), take(bl, m.hidden)
		l.mean1, l.rstd1, l.mean2, l.rstd2 = vec(bl), vec(bl), vec(bl), vec(bl)
		if w.train {
			l.probs = vec(w.cap * m.heads * m.tokens * m.tokens)
		}
	}
	ns := 1
	if w.train {
		ns = m.cfg.Vision.Layers + 1
	}
	w.streams = make([]ffi.Mat, ns)
	for i := range w.streams {
		w.streams[i] = take(bl, m.width)
	}
	w.post = take(w.cap, m.width)
	w.postM, w.postR = vec(w.cap), vec(w.cap)
	w.feat = w.post // without a projection the features are ln_post's output
	if !m.noProj {
		w.feat = take(w.cap, m.cfg.EmbedDim)
	}
	if w.train {
		w.dx, w.dln, w.dattn = take(bl, m.width), take(bl, m.width), take(bl, m.width)
		w.dqkv, w.dhid, w.demb = take(bl, 3*m.width), take(bl, m.hidden), take(bl, m.width)
		w.dpost = take(w.cap, m.width)
	}
}

func (m *vit) NewWorkspace(e Engine, batch int, train bool) (Workspace, error) {
	if batch < 1 {
		return nil, fmt.Errorf("vit workspace: batch %d must be positive", batch)
	}
	w := &vitWorkspace{workspace: workspace{e: e, cap: batch, train: train}, m: m}
	var n size
	w.plan(func(r, c int) ffi.Mat { n.mat(r, c); return ffi.Mat{} }, func(k int) ffi.Vec { n.take(k); return ffi.Vec{} })
	a, err := newArena(e, int(n))
	if err != nil {
		return nil, err
	}
	w.arena = a
	w.plan(a.mat, a.take)
	w.host = make([]float32, batch*m.tokens*m.cpp)
	return w, nil
}

// stream is the residual stream entering block l (l = layers: the output).
// Inference workspaces update one stream in place.
func (w *vitWorkspace) stream(l int) ffi.Mat  { return w.streams[min(l, len(w.streams)-1)] }
func (w *vitWorkspace) layer(l int) *vitLayer { return &w.layers[min(l, len(w.layers)-1)] }

// SetInput patchifies images on the host: token row b*L + 1 + gy*grid + gx
// holds patch (gy, gx) in conv1.weight's (c, py, px) order; row b*L (the
// class token) stays zero, so conv1 maps it to zero.
func (w *vitWorkspace) SetInput(images []float32, n int) error {
	m := w.m
	if err := checkInput(m.cfg, images, n, w.cap); err != nil {
		return err
	}
	v := m.cfg.Vision
	P, S, C := v.PatchSize, v.ImageSize, v.InChannels
	host := w.host[:n*m.tokens*m.cpp]
	for b := range n {
		img := images[b*C*S*S : (b+1)*C*S*S]
		clear(host[b*m.tokens*m.cpp : (b*m.tokens+1)*m.cpp])
		for gy := range m.grid {
			for gx := range m.grid {
				row := host[(b*m.tokens+1+gy*m.grid+gx)*m.cpp:]
				k := 0
				for c := range C {
					for py := range P {
						src := img[c*S*S+(gy*P+py)*S+gx*P:]
						copy(row[k:k+P], src[:P])
						k += P
					}
				}
			}
		}
	}
	w.n = n
	return w.e.Upload(vecOf(w.patches, len(host)), ffi.F32Bytes(host))
}

func (w *vitWorkspace) Forward(p *Params) (ffi.Mat, error) {
	if w.n == 0 {
		return ffi.Mat{}, fmt.Errorf("vit forward: no input")
	}
	if err := w.forward(p); err != nil {
		return ffi.Mat{}, fmt.Errorf("vit forward: %w", err)
	}
	return w.feat, nil
}

func (w *vitWorkspace) forward(p *Params) error {
	e, m := w.e, w.m
	B, L, D := w.n, m.tokens, m.width
	BL := B * L
	if err := e.Sgemm(false, true, BL, D, m.cpp, 1, w.patches, p.Mat("conv1.weight"), 0, w.emb); err != nil {
		return err
	}
	// Class rows are zero after the patch GEMM: add the class embedding to
	// them, then the positional embedding to every (L x D) block.
	if err := e.BiasAdd(B, D, strided(w.emb, L), p.Vec("class_embedding")); err != nil {
		return err
	}
	if err := e.BiasAdd(B, L*D, ffi.Mat{Buf: w.emb.Buf, Off: w.emb.Off, LD: L * D}, p.Vec("positional_embedding")); err != nil {
		return err
	}
	if err := e.LayerNormForward(BL, D, w.emb, p.Vec("ln_pre.weight"), p.Vec("ln_pre.bias"), m.eps,
		w.stream(0), first(w.preMean, BL), first(w.preRstd, BL)); err != nil {
		return err
	}
	for i := range m.cfg.Vision.Layers {
		if err := w.blockForward(p, i); err != nil {
			return fmt.Errorf("block %d: %w", i, err)
		}
	}
	x := strided(w.stream(m.cfg.Vision.Layers), L)
	if err := e.LayerNormForward(B, D, x, p.Vec("ln_post.weight"), p.Vec("ln_post.bias"), m.eps,
		w.post, first(w.postM, B), first(w.postR, B)); err != nil {
		return err
	}
	if m.noProj {
		return nil
	}
	return e.Sgemm(false, false, B, m.cfg.EmbedDim, D, 1, w.post, p.Mat("proj"), 0, w.feat)
}

// lnEps is torch.nn.LayerNorm's default eps, as open_clip uses.
const lnEps = 1e-5

func (w *vitWorkspace) blockForward(p *Params, i int) error {
	e, m, l := w.e, w.m, w.layer(i)
	B, D, H := w.n, m.width, m.hidden
	BL := B * m.tokens
	b := block(i)
	x, next := w.stream(i), w.stream(i+1)
	if err := e.LayerNormForward(BL, D, x, p.Vec(b+"ln_1.weight"), p.Vec(b+"ln_1.bias"), m.eps, l.ln1, first(l.mean1, BL), first(l.rstd1, BL)); err != nil {
		return err
	}
	if err := linearForward(e, BL, D, 3*D, l.ln1, p.Mat(b+"attn.in_proj_weight"), p.Vec(b+"attn.in_proj_bias"), l.qkv); err != nil {
		return err
	}
	if err := e.AttentionForward(B, m.tokens, m.heads, D/m.heads, m.scale(), l.qkv, first(l.probs, B*m.heads*m.tokens*m.tokens), l.attn); err != nil {
		return err
	}
	if err := linearForward(e, BL, D, D, l.attn, p.Mat(b+"attn.out_proj.weight"), p.Vec(b+"attn.out_proj.bias"), l.xmid); err != nil {
		return err
	}
	if err := e.Axpy(1, vecOf(x, BL*D), vecOf(l.xmid, BL*D)); err != nil {
		return err
	}
	if err := e.LayerNormForward(BL, D, l.xmid, p.Vec(b+"ln_2.weight"), p.Vec(b+"ln_2.bias"), m.eps, l.ln2, first(l.mean2, BL), first(l.rstd2, BL)); err != nil {
		return err
	}
	if err := linearForward(e, BL, D, H, l.ln2, p.Mat(b+"mlp.c_fc.weight"), p.Vec(b+"mlp.c_fc.bias"), l.fc); err != nil {
		return err
	}
	if err := e.GELUForward(vecOf(l.fc, BL*H), vecOf(l.act, BL*H), m.quick); err != nil {
		return err
	}
	// In an inference workspace next is x itself: x is no longer needed.
	if err := linearForward(e, BL, H, D, l.act, p.Mat(b+"mlp.c_proj.weight"), p.Vec(b+"mlp.c_proj.bias"), next); err != nil {
		return err
	}
	return e.Axpy(1, vecOf(l.xmid, BL*D), vecOf(next, BL*D))
}

// scale is the attention logits' 1/sqrt(head_dim).
func (m *vit) scale() float32 { return float32(1 / math.Sqrt(float64(m.width/m.heads))) }

func (w *vitWorkspace) Backward(p, g *Params, dfeat ffi.Mat) error {
	if !w.train {
		return fmt.Errorf("vit backward: inference workspace")
	}
	if w.n == 0 {
		return fmt.Errorf("vit backward: no forward")
	}
	if err := w.backward(p, g, dfeat); err != nil {
		return fmt.Errorf("vit backward: %w", err)
	}
	return nil
}

func (w *vitWorkspace) backward(p, g *Params, dfeat ffi.Mat) error {
	e, m := w.e, w.m
	B, L, D, E := w.n, m.tokens, m.width, m.cfg.EmbedDim
	BL := B * L
	// features = post @ proj, or post itself without a projection
	dpost := dfeat
	if !m.noProj {
		dpost = w.dpost
		if err := e.Sgemm(false, true, B, D, E, 1, dfeat, p.Mat("proj"), 0, w.dpost); err != nil {
			return err
		}
		if err := e.Sgemm(true, false, D, E, B, 1, w.post, dfeat, 1, g.Mat("proj")); err != nil {
			return err
		}
	}
	// Only the class rows of the last stream reach the output.
	if err := e.Zero(vecOf(w.dx, BL*D)); err != nil {
		return err
	}
	top := m.cfg.Vision.Layers
	if err := e.LayerNormBackward(B, D, dpost, strided(w.stream(top), L), first(w.postM, B), first(w.postR, B), p.Vec("ln_post.weight"),
		strided(w.dx, L), false, g.Vec("ln_post.weight"), g.Vec("ln_post.bias")); err != nil {
		return err
	}
	for i := top - 1; i >= 0; i-- {
		if err := w.blockBackward(p, g, i); err != nil {
			return fmt.Errorf("block %d: %w", i, err)
		}
	}
	if err := e.LayerNormBackward(BL, D, w.dx, w.emb, first(w.preMean, BL), first(w.preRstd, BL), p.Vec("ln_pre.weight"), w.demb, false,
		g.Vec("ln_pre.weight"), g.Vec("ln_pre.bias")); err != nil {
		return err
	}
	if err := e.BiasGrad(B, L*D, ffi.Mat{Buf: w.demb.Buf, Off: w.demb.Off, LD: L * D}, g.Vec("positional_embedding")); err != nil {
		return err
	}
	if err := e.BiasGrad(B, D, strided(w.demb, L), g.Vec("class_embedding")); err != nil {
		return err
	}
	// Class rows of the patches are zero, so they add nothing to dconv1.
	return e.Sgemm(true, false, D, m.cpp, BL, 1, w.demb, w.patches, 1, g.Mat("conv1.weight"))
}

// blockBackward turns w.dx from dL/d(block i's output) into dL/d(its input).
func (w *vitWorkspace) blockBackward(p, g *Params, i int) error {
	e, m, l := w.e, w.m, w.layer(i)
	B, D, H := w.n, m.width, m.hidden
	BL := B * m.tokens
	b := block(i)
	// out = xmid + c_proj(gelu(c_fc(ln_2(xmid))))
	if err := linearBackward(e, BL, H, D, w.dx, l.act, p.Mat(b+"mlp.c_proj.weight"), g.Mat(b+"mlp.c_proj.weight"),
		g.Vec(b+"mlp.c_proj.bias"), w.dhid); err != nil {
		return err
	}
	if err := e.GELUBackward(vecOf(l.fc, BL*H), vecOf(w.dhid, BL*H), vecOf(w.dhid, BL*H), m.quick); err != nil {
		return err
	}
	if err := linearBackward(e, BL, D, H, w.dhid, l.ln2, p.Mat(b+"mlp.c_fc.weight"), g.Mat(b+"mlp.c_fc.weight"),
		g.Vec(b+"mlp.c_fc.bias"), w.dln); err != nil {
		return err
	}
	if err := e.LayerNormBackward(BL, D, w.dln, l.xmid, first(l.mean2, BL), first(l.rstd2, BL), p.Vec(b+"ln_2.weight"), w.dx, true,
		g.Vec(b+"ln_2.weight"), g.Vec(b+"ln_2.bias")); err != nil {
		return err
	}
	// xmid = x + out_proj(attention(in_proj(ln_1(x))))
	if err := linearBackward(e, BL, D, D, w.dx, l.attn, p.Mat(b+"attn.out_proj.weight"), g.Mat(b+"attn.out_proj.weight"),
		g.Vec(b+"attn.out_proj.bias"), w.dattn); err != nil {
		return err
	}
	if err := e.AttentionBackward(B, m.tokens, m.heads, D/m.heads, m.scale(), l.qkv, first(l.probs, B*m.heads*m.tokens*m.tokens), w.dattn, w.dqkv); err != nil {
		return err
	}
	if err := linearBackward(e, BL, D, 3*D, w.dqkv, l.ln1, p.Mat(b+"attn.in_proj_weight"), g.Mat(b+"attn.in_proj_weight"),
		g.Vec(b+"attn.in_proj_bias"), w.dln); err != nil {
		return err
	}
	return e.LayerNormBackward(BL, D, w.dln, w.stream(i), first(l.mean1, BL), first(l.rstd1, BL), p.Vec(b+"ln_1.weight"), w.dx, true,
		g.Vec(b+"ln_1.weight"), g.Vec(b+"ln_1.bias"))
}
