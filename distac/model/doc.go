// Package model holds distac's encoders: the ViT (open_clip's VisionTransformer names and config) and the small MLP.
package model
