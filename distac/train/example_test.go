package train_test

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"

	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
	"github.com/distac/distac/ffi"
)

// DisTaC on two tasks whose task vectors differ 4x in norm: the long one
// is shrunk to the other's norm (kappa 0.25) and distilled from its
// fine-tuned teacher on unlabelled images; the short one (kappa 1, equal
// temperatures) would start as its teacher and is kept as it is.
//
// Models usually come from checkpoints (model.Open) and images from files
// (train.OpenSet); here they are made in memory.
func ExampleCondition() {
	e, err := model.OpenEngine("auto", 1)
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := model.ParseConfig([]byte(`{"embed_dim": 4, "mlp_cfg": {"in_features": 16, "hidden": [8]}}`))
	if err != nil {
		log.Fatal(err)
	}
	enc := model.New(cfg)
	base, err := model.Init(e, enc.Layout(), 1)
	if err != nil {
		log.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]float32, base.Layout.N)
	for i := range noise {
		noise[i] = float32(rng.NormFloat64())
	}
	images := make([]float32, 64*16)
	for i := range images {
		images[i] = rng.Float32()
	}
	unlabelled := &data.Set{Name: "noise", C: 1, H: 4, W: 4, Images: images}
	w := make([]float32, 3*4)
	for i := range w {
		w[i] = rng.Float32() - 0.5
	}
	head, err := model.NewHead(e, w, 3, 4)
	if err != nil {
		log.Fatal(err)
	}
	var tasks []train.Task
	for i, scale := range []float32{0.01, 0.04} {
		ft, err := base.Copy(e) // theta_t = theta_0 + scale * noise
		if err != nil {
			log.Fatal(err)
		}
		tau, err := ffi.NewF32(e, noise)
		if err != nil {
			log.Fatal(err)
		}
		if err := e.Axpy(scale, ffi.All(tau), ft.All()); err != nil {
			log.Fatal(err)
		}
		e.Free(tau)
		tasks = append(tasks, train.Task{Name: fmt.Sprintf("task%d", i), Params: ft, Head: head, Inputs: unlabelled})
	}

	o := train.DefaultConditionOptions()
	o.Steps, o.Batch, o.LR = 20, 16, 1e-3
	o.NewEngine = func(threads int) (model.Engine, error) { return model.OpenEngine("auto", threads) }
	res, err := train.Condition(context.Background(), enc, base, tasks, o)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res {
		fmt.Printf("%s: kappa %.2f, %d steps", r.Name, r.Kappa, len(r.Losses))
		if r.Skipped != "" {
			fmt.Print(", kept as it is")
		}
		fmt.Println()
	}
	// Output:
	// task0: kappa 1.00, 0 steps, kept as it is
	// task1: kappa 0.25, 20 steps
}
