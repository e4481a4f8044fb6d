// Redis: hot state (progress snapshots awaiting write-behind, presence, poll tallies,
// rate-limit counters, cached metadata). TLS only, and no access keys: the function app
// signs in with its managed identity (an Entra token as the password, its object id as
// the user), granted by an access policy assignment on the database.
//
// kind 'managed' (the default) is Azure Managed Redis (Microsoft.Cache/redisEnterprise with
// its one database, 'default'); kind 'cache' is the retiring Azure Cache for Redis
// (Basic/Standard/Premium, retired 2028-09-30). What differs for the app: port 10000 instead
// of 6380 (REDIS_URL carries it), database 0 only, and the clustering policy. The app runs
// multi-key Lua scripts and pipelines (progress, leaderboard, rate limits) whose keys do
// not all share a hash slot, so the default policy is NoCluster: one unsharded Redis that
// behaves like the single server the app is tested against, for caches up to 25 GB.
// EnterpriseCluster (one endpoint, a proxy in front of several shards) allows only a few
// multi-key commands across slots, not scripts; OSSCluster would need a cluster-aware
// client. docs/DEPLOY.md says more.

param name string
param location string
param tags object

@allowed([
  'managed'
  'cache'
])
@description('managed: Azure Managed Redis. cache: Azure Cache for Redis (retiring).')
param kind string = 'managed'

@description('Azure Managed Redis SKU, e.g. Balanced_B1 (1 GB), Balanced_B5 (6 GB), MemoryOptimized_M10.')
param managedSku string = 'Balanced_B1'

@allowed([
  'NoCluster'
  'EnterpriseCluster'
])
@description('Azure Managed Redis clustering policy; NoCluster keeps multi-key scripts working unchanged (caches up to 25 GB).')
param clusteringPolicy string = 'NoCluster'

@allowed([
  'Basic'
  'Standard'
  'Premium'
])
@description('Azure Cache for Redis tier (kind cache). Basic has no replica and no SLA; Standard is the smallest production tier.')
param skuName string = 'Standard'

@minValue(0)
@maxValue(6)
@description('Azure Cache for Redis size within the tier (kind cache): C0-C6 for Basic/Standard, P1-P5 for Premium.')
param capacity int = 1

@description('Replicas in other availability zones: high availability for Azure Managed Redis (its replicas are spread across zones where the region has them); zonal allocation for Premium.')
param zoneRedundant bool = false

@description('Object id of the function app\'s managed identity: the one Redis user.')
param appPrincipalId string

var isManaged = kind == 'managed'
var managedPort = 10000

resource managed 'Microsoft.Cache/redisEnterprise@2025-07-01' = if (isManaged) {
  name: name
  location: location
  tags: tags
  sku: {
    name: managedSku
  }
  properties: {
    minimumTlsVersion: '1.2'
    highAvailability: zoneRedundant ? 'Enabled' : 'Disabled'
    publicNetworkAccess: 'Enabled'
  }
}

resource managedDatabase 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = if (isManaged) {
  parent: managed
  name: 'default'
  properties: {
    clientProtocol: 'Encrypted'
    port: managedPort
    clusteringPolicy: clusteringPolicy
    // Only keys with a TTL (caches, rate-limit windows) may be evicted under memory
    // pressure; dirty progress snapshots waiting for the PostgreSQL flush carry none.
    evictionPolicy: 'VolatileLRU'
    // Entra ID only: the app's identity through the assignment below, nobody with a key.
    accessKeysAuthentication: 'Disabled'
  }
}

// 'default' is the database's one access policy: every data command, no administration.
resource managedAppAccess 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-07-01' = if (isManaged) {
  parent: managedDatabase
  name: 'lecternapi'
  properties: {
    accessPolicyName: 'default'
    user: {
      objectId: appPrincipalId
    }
  }
}

resource cache 'Microsoft.Cache/redis@2024-11-01' = if (!isManaged) {
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
    disableAccessKeyAuthentication: true
    redisConfiguration: {
      'maxmemory-policy': 'volatile-lru'
      'aad-enabled': 'true'
    }
  }
}

// Data Contributor: reads, writes and scripts, none of the dangerous administration commands.
resource cacheAppAccess 'Microsoft.Cache/redis/accessPolicyAssignments@2024-11-01' = if (!isManaged) {
  parent: cache
  name: 'lecternapi'
  properties: {
    accessPolicyName: 'Data Contributor'
    objectId: appPrincipalId
    objectIdAlias: 'lectern-api'
  }
}

var host = isManaged ? managed!.properties.hostName : cache!.properties.hostName
var port = isManaged ? managedPort : cache!.properties.sslPort

output id string = isManaged ? managed.id : cache.id
output name string = name
output host string = host
output port int = port
// The metric namespace of the resource, for the memory alert.
output metricNamespace string = isManaged ? 'Microsoft.Cache/redisEnterprise' : 'Microsoft.Cache/redis'
// What the app's REDIS_URL names: TLS, its identity as the user, no password (the token).
output appUrl string = 'rediss://${appPrincipalId}@${host}:${port}/0'
