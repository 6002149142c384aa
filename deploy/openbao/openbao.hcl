# OpenBao for compose: persistent integrated (raft) storage on the openbao-data volume,
# never dev mode. `openbao-init` initialises and provisions it once; `openbao-unsealer`
# unseals it after every restart (python -m byok_shared.openbao_init, deploy/README.md).
# The listener is plain HTTP on the compose network only (no host port).
storage "raft" {
  path    = "/openbao/file"
  node_id = "openbao-1"
  # 1 = the production timing (the default, 5, is for slow development machines).
  performance_multiplier = 1
}

listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_disable     = true
}

api_addr     = "http://openbao:8200"
cluster_addr = "http://openbao:8201"
ui           = false
log_level    = "warn"
