// Azure Cache for Redis: hot state (progress snapshots awaiting write-behind, presence,
// poll tallies, rate-limit counters, cached metadata). TLS only; the app's REDIS_URL,
// carrying the access key, lives in Key Vault.

param name string
param location string
param tags object

@allowed([
  'Basic'
  'Standard'
  'Premium'
])
@description('Basic has no replica and no SLA; Standard is the smallest production tier.')
param skuName string

@minValue(0)
@maxValue(6)
@description('Cache size within the tier: C0-C6 for Basic/Standard, P1-P5 for Premium.')
param capacity int

@description('Spread the cache across availability zones (Premium only; ignored otherwise).')
param zoneRedundant bool = false

param keyVaultName string

resource redis 'Microsoft.Cache/redis@2024-11-01' = {
  //checkov:skip=CKV_AZURE_89:The Flex Consumption app has no virtual network in the default layout, so it reaches Redis over the public endpoint: TLS 1.2 only, the non-TLS port off, and the access key only in Key Vault. A private endpoint needs the network layout (postgresPublicNetworkAccess = Disabled) plus a Premium-tier or private-endpoint setup not built here.
  name: name
  location: location
  tags: tags
  properties: {
    sku: {
      name: skuName
      family: skuName == 'Premium' ? 'P' : 'C'
      capacity: capacity
    }
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    redisVersion: '6'
    // Premium places its primary and replica in different zones chosen by the platform.
    zonalAllocationPolicy: zoneRedundant && skuName == 'Premium' ? 'Automatic' : 'NoZones'
    redisConfiguration: {
      // Only keys with a TTL (caches, rate-limit windows) may be evicted under memory
      // pressure; dirty progress snapshots waiting for the PostgreSQL flush carry none.
      'maxmemory-policy': 'volatile-lru'
    }
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// The key is percent-encoded: access keys contain '/', '+' and '='.
resource urlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:No expiry on purpose: the app reads this secret through a versionless Key Vault reference, and an expiry date would make the reference stop resolving and take the app down at that moment; rotation follows docs/DEPLOY.md instead.
  parent: vault
  name: 'redis-url'
  properties: {
    value: 'rediss://:${uriComponent(redis.listKeys().primaryKey)}@${redis.properties.hostName}:${redis.properties.sslPort}/0'
    contentType: 'text/plain; Redis connection URL (TLS) for the app'
  }
}

output id string = redis.id
output name string = redis.name
output host string = redis.properties.hostName
output urlSecretUri string = urlSecret.properties.secretUri
