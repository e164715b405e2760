package checkpoint

// ModelConfigKey and KeyPrefixKey are the __metadata__ keys under which
// distac's training commands record a checkpoint's model config (JSON) and
// the key prefix of its encoder tensors (package model reads them); a merge
// carries both from its base into the merged model.
const (
	ModelConfigKey = "distac.model_config"
	KeyPrefixKey   = "distac.key_prefix"
)
