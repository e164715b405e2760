// Package data holds labelled image sets in memory and feeds them to
// training: readers for MNIST-style IDX files, folders of PNG/JPEG images and
// pre-processed safetensors files; the built-in sets (mnist, fashion,
// opencv-digits, sklearn-digits), all read from files that a package manager
// installed, never downloaded; seeded stratified splits; and a prefetching
// batch loader with the augmentations distac's pre-training uses (quarter
// turns for rotation prediction, mixup).
//
// Images are float32, row-major N x C x H x W. Every reader scales pixel
// values to [0, 1]; normalisation (per-channel mean/std) is a separate,
// explicit step. Everything seeded is reproducible across runs and machines:
// the random streams are math/rand/v2 PCG generators keyed by the seed.
//
// The package is pure Go and does not import the distac package.
package data
