// Lectern in Azure: the function app (Flex Consumption, Python 3.13) and everything it
// talks to, in one resource group. `azd up` deploys it with main.parameters.json;
// docs/DEPLOY.md explains every parameter.
targetScope = 'resourceGroup'

// --- parameters --------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; part of every resource name and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Azure region for every resource.')
param location string

@description('Principal running the deployment (azd sets AZURE_PRINCIPAL_ID); gets Key Vault Secrets Officer. Empty for none.')
param principalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
@description('Kind of principalId: User for a person, ServicePrincipal for a pipeline.')
param principalType string = 'User'

// Function app
@minValue(0)
@description('Instances kept warm for HTTP triggers, so the first request after a quiet spell does not wait for a cold start.')
param functionAlwaysReadyInstances int = 1

@minValue(40)
@maxValue(1000)
@description('Most instances the app scales out to. Times postgresPoolMax, it must stay below the database\'s connection limit.')
param functionMaximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
@description('Memory per instance in MB.')
param functionInstanceMemoryMB int = 2048

@minValue(1)
@maxValue(1000)
@description('HTTP requests one instance serves at once (functionAppConfig.scaleAndConcurrency.triggers.http.perInstanceConcurrency). Python defaults to 1; the default here is measured by bench/concurrency.py (docs/CAPACITY.md).')
param functionHttpPerInstanceConcurrency int = 64

@description('Spread function app instances across availability zones (only where Flex Consumption offers it).')
param functionZoneRedundant bool = false

@description('Public base URL of the API (a custom domain); empty means https://<function app host>.')
param publicBaseUrl string = ''

@minLength(1)
@description('Comma-separated browser origins of the student, tutor and admin apps (CORS for the API and for blob uploads).')
param corsAllowedOrigins string

// Identity provider (OpenID Connect issuer of the bearer tokens)
@minLength(1)
@description('Expected `iss` of bearer tokens.')
param jwtIssuer string

@minLength(1)
@description('Expected `aud` of bearer tokens.')
param jwtAudience string = 'lectern-api'

@minLength(1)
@description('JWKS URL of the issuer, whose keys sign the bearer tokens.')
param jwtJwksUrl string

// Content
@minLength(1)
@description('Base URL of the video CDN playback endpoint.')
param videoCdnBaseUrl string

@secure()
@minLength(1)
@description('Private key of the Mux URL signing key (base64 PEM, as Mux returns it once); signs playback URLs (RS256); stored in Key Vault.')
param videoSigningKey string

@minLength(1)
@description('Id of that Mux URL signing key (the `kid` of every playback token; not a secret).')
param videoSigningKeyId string

@secure()
@minLength(1)
@description('Payment webhook signing secrets, comma-separated (two during a rotation); stored in Key Vault.')
param paymentWebhookSecrets string

@secure()
@minLength(12)
@description('HMAC key that signs the Web PubSub connection state (who a connection is, in which class, with which role); azd generates it once and reads it back from Key Vault afterwards.')
param connectionStateKey string

@secure()
@minLength(12)
@description('HMAC key that signs calendar feed URLs (GET /api/calendar/{token}); azd generates it once and reads it back from Key Vault afterwards.')
param calendarFeedKey string

// Payments (docs/payments.md): API keys and webhook secrets go to Key Vault; the app
// reads them through Key Vault references.
@secure()
@minLength(1)
@description('Stripe secret API key (sk_live_...); stored in Key Vault.')
param stripeSecretKey string

@description('Whether Stripe events must be live-mode ones (false only for a test-mode deployment).')
param stripeLivemode bool = true

@description('Razorpay key id (public: the browser widget shows it). Empty: Razorpay checkouts are off.')
param razorpayKeyId string = ''

@secure()
@minLength(1)
@description('Razorpay key secret; stored in Key Vault (any placeholder when Razorpay is not used).')
param razorpayKeySecret string

@secure()
@minLength(1)
@description('Razorpay webhook secrets, comma-separated (two during a rotation); stored in Key Vault.')
param razorpayWebhookSecrets string

@allowed([
  'stripe'
  'razorpay'
])
@description('Provider of a checkout that names none.')
param paymentDefaultProvider string = 'stripe'

@description('ISO 4217 currency of a course created without one.')
param paymentDefaultCurrency string = 'USD'

@description('Page the provider sends the buyer back to after paying; empty means the app\'s demo page.')
param paymentReturnUrl string = ''

// PostgreSQL
@description('PostgreSQL administrator login.')
param postgresAdminLogin string = 'lecternadmin'

@secure()
@minLength(12)
@description('PostgreSQL administrator password; azd generates it once and reads it back from Key Vault afterwards.')
param postgresAdminPassword string

@description('PostgreSQL compute SKU.')
param postgresSkuName string = 'Standard_D2ds_v5'

@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
@description('PostgreSQL tier matching postgresSkuName.')
param postgresSkuTier string = 'GeneralPurpose'

@allowed([
  32
  64
  128
  256
  512
  1024
  2048
  4096
  8192
  16384
])
@description('PostgreSQL storage in GiB (autogrow on).')
param postgresStorageSizeGB int = 64

@description('Zone-redundant high availability for PostgreSQL (not on Burstable).')
param postgresZoneRedundantHa bool = false

@description('Geo-redundant PostgreSQL backups (fixed when the server is created).')
param postgresGeoRedundantBackup bool = false

@description('A read replica of PostgreSQL (asynchronous; for reporting and as a promotable copy in a disaster). The app does not route reads to it.')
param postgresReadReplica bool = false

@description('Region of the read replica; empty means the primary\'s region. With private access (postgresPublicNetworkAccess = Disabled) it must stay in the primary\'s region.')
param postgresReadReplicaLocation string = ''

@minValue(7)
@maxValue(35)
@description('Days of PostgreSQL point-in-time restore.')
param postgresBackupRetentionDays int = 14

@allowed([
  'Enabled'
  'Disabled'
])
@description('The private-network layout: Disabled (default) puts PostgreSQL in a virtual network the function app joins; Enabled gives it a public endpoint that admits only postgresAllowedIpRanges (the app cannot reach it then: Flex Consumption has no fixed outbound addresses).')
param postgresPublicNetworkAccess string = 'Disabled'

@description('With postgresPublicNetworkAccess Enabled: address ranges [{start, end}] the PostgreSQL firewall admits (operators, migrations).')
param postgresAllowedIpRanges array = []

@minValue(1)
@description('Connections each app instance may hold (POSTGRES_POOL_MAX).')
param postgresPoolMax int = 5

@description('Object id of an Entra ID PostgreSQL administrator; empty for none.')
param postgresEntraAdminObjectId string = ''

@description('Name (UPN, group or app name) of that Entra ID administrator.')
param postgresEntraAdminName string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param postgresEntraAdminType string = 'User'

// Redis
@allowed([
  'managed'
  'cache'
])
@description('managed: Azure Managed Redis (Microsoft.Cache/redisEnterprise, port 10000). cache: the retiring Azure Cache for Redis (Basic/Standard/Premium, port 6380).')
param redisKind string = 'managed'

@allowed([
  'Balanced_B0'
  'Balanced_B1'
  'Balanced_B3'
  'Balanced_B5'
  'Balanced_B10'
  'Balanced_B20'
  'MemoryOptimized_M10'
  'MemoryOptimized_M20'
  'ComputeOptimized_X3'
  'ComputeOptimized_X5'
])
@description('Azure Managed Redis SKU (redisKind managed).')
param redisManagedSku string = 'Balanced_B1'

@allowed([
  'NoCluster'
  'EnterpriseCluster'
])
@description('Azure Managed Redis clustering policy. NoCluster (caches up to 25 GB) runs the app\'s multi-key Lua scripts unchanged; EnterpriseCluster would refuse those whose keys span hash slots.')
param redisClusteringPolicy string = 'NoCluster'

@allowed([
  'Basic'
  'Standard'
  'Premium'
])
@description('Azure Cache for Redis tier (redisKind cache).')
param redisSkuName string = 'Standard'

@minValue(0)
@maxValue(6)
@description('Azure Cache for Redis size within the tier (C0-C6, P1-P5; redisKind cache).')
param redisCapacity int = 1

@description('Redis replicas across availability zones (Azure Managed Redis: high availability on; Azure Cache for Redis: Premium only).')
param redisZoneRedundant bool = false

// Web PubSub
@allowed([
  1
  2
  3
  4
  5
  6
  7
  8
  9
  10
  20
  30
  40
  50
  60
  70
  80
  90
  100
])
@description('Web PubSub Standard units (1,000 concurrent connections each).')
param webPubSubUnits int = 1

// Storage
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
@description('Storage account replication.')
param storageSkuName string = 'Standard_GRS'

// Key Vault
@description('Key Vault purge protection (cannot be turned off once on).')
param keyVaultPurgeProtection bool = true

// Alerts
@minLength(3)
@description('E-mail address that receives every alert.')
param alertEmail string

@minValue(1)
@maxValue(100)
@description('HTTP error rate (percent over 5 minutes) that raises an alert.')
param alertErrorRatePercent int = 5

@minValue(50)
@description('p95 HTTP latency in milliseconds (over 5 minutes) that raises an alert.')
param alertLatencyP95Ms int = 1000

// --- names -------------------------------------------------------------------------------

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}

var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
var functionPlanName = '${abbrs.webServerFarms}${resourceToken}'
var storageAccountName = '${abbrs.storageStorageAccounts}${resourceToken}'
var keyVaultName = '${abbrs.keyVaultVaults}${resourceToken}'
var postgresServerName = '${abbrs.dBforPostgreSQLServers}${resourceToken}'
var redisName = '${redisKind == 'managed' ? abbrs.cacheRedisEnterprise : abbrs.cacheRedis}${resourceToken}'
var webPubSubName = '${abbrs.signalRServiceWebPubSub}${resourceToken}'
var logAnalyticsName = '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
var applicationInsightsName = '${abbrs.insightsComponents}${resourceToken}'
var actionGroupName = '${abbrs.insightsActionGroups}${resourceToken}'
var virtualNetworkName = '${abbrs.networkVirtualNetworks}${resourceToken}'

// --- storage names the app uses: a new container, queue or table is one line in a list --

var materialsContainerName = 'materials'
var certificatesContainerName = 'certificates'
var privacyExportsContainerName = 'privacy-exports'
// Days a finished privacy export can be downloaded before the app deletes its file.
var privacyExportDays = 7
var deploymentContainerName = 'app-package'
var outboxQueueName = 'outbox'
var auditTableName = 'audit'
var accessLogTableName = 'contentaccess'
var changeLogTableName = 'changelog'
var attendanceTableName = 'attendance'

// The Functions host's own containers, created here so its role can be scoped to them.
var hostLeasesContainerName = 'azure-webjobs-hosts'
var hostSecretsContainerName = 'azure-webjobs-secrets'
var hostContainerNames = [
  hostLeasesContainerName
  hostSecretsContainerName
]
var blobContainerNames = [
  materialsContainerName
  certificatesContainerName
  privacyExportsContainerName
  deploymentContainerName
  hostLeasesContainerName
  hostSecretsContainerName
]
var queueNames = [
  outboxQueueName
  '${outboxQueueName}-poison'
]
var tableNames = [
  auditTableName
  accessLogTableName
  changeLogTableName
  attendanceTableName
]

var webPubSubHubName = 'live'
var usePrivatePostgres = postgresPublicNetworkAccess == 'Disabled'

// --- resources ---------------------------------------------------------------------------

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: logAnalyticsName
    applicationInsightsName: applicationInsightsName
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: storageAccountName
    location: location
    tags: tags
    replication: storageSkuName
    containerNames: blobContainerNames
    materialsContainerName: materialsContainerName
    privacyExportsContainerName: privacyExportsContainerName
    privacyExportDays: privacyExportDays
    queueNames: queueNames
    tableNames: tableNames
    // Origins never contain spaces, so dropping them all tidies "a, b" into [a, b].
    corsAllowedOrigins: split(replace(corsAllowedOrigins, ' ', ''), ',')
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: keyVaultName
    location: location
    tags: tags
    enablePurgeProtection: keyVaultPurgeProtection
  }
}

module appSecrets 'modules/app-secrets.bicep' = {
  name: 'app-secrets'
  params: {
    keyVaultName: keyVault.outputs.name
    videoSigningKey: videoSigningKey
    paymentWebhookSecrets: paymentWebhookSecrets
    connectionStateKey: connectionStateKey
    calendarFeedKey: calendarFeedKey
    stripeSecretKey: stripeSecretKey
    razorpayKeySecret: razorpayKeySecret
    razorpayWebhookSecrets: razorpayWebhookSecrets
  }
}

module network 'modules/network.bicep' = if (usePrivatePostgres) {
  name: 'network'
  params: {
    name: virtualNetworkName
    location: location
    tags: tags
    postgresServerName: postgresServerName
  }
}

module postgres 'modules/postgres.bicep' = {
  name: 'postgres'
  params: {
    name: postgresServerName
    location: location
    tags: tags
    administratorLogin: postgresAdminLogin
    administratorPassword: postgresAdminPassword
    skuName: postgresSkuName
    skuTier: postgresSkuTier
    storageSizeGB: postgresStorageSizeGB
    zoneRedundantHa: postgresZoneRedundantHa
    geoRedundantBackup: postgresGeoRedundantBackup
    backupRetentionDays: postgresBackupRetentionDays
    readReplica: postgresReadReplica
    readReplicaLocation: postgresReadReplicaLocation
    publicNetworkAccess: postgresPublicNetworkAccess
    allowedIpRanges: postgresAllowedIpRanges
    delegatedSubnetId: usePrivatePostgres ? network.outputs.postgresSubnetId : ''
    privateDnsZoneId: usePrivatePostgres ? network.outputs.privateDnsZoneId : ''
    entraAdminObjectId: postgresEntraAdminObjectId
    entraAdminName: postgresEntraAdminName
    entraAdminType: postgresEntraAdminType
    keyVaultName: keyVault.outputs.name
  }
}

module redis 'modules/redis.bicep' = {
  name: 'redis'
  params: {
    name: redisName
    location: location
    tags: tags
    kind: redisKind
    managedSku: redisManagedSku
    clusteringPolicy: redisClusteringPolicy
    skuName: redisSkuName
    capacity: redisCapacity
    zoneRedundant: redisZoneRedundant
    appPrincipalId: functionApp.outputs.principalId
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    planName: functionPlanName
    appName: functionAppName
    location: location
    tags: union(tags, {
      'azd-service-name': 'api'
    })
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    alwaysReadyInstances: functionAlwaysReadyInstances
    maximumInstanceCount: functionMaximumInstanceCount
    instanceMemoryMB: functionInstanceMemoryMB
    httpPerInstanceConcurrency: functionHttpPerInstanceConcurrency
    zoneRedundant: functionZoneRedundant
    subnetId: usePrivatePostgres ? network.outputs.appSubnetId : ''
    corsAllowedOrigins: split(replace(corsAllowedOrigins, ' ', ''), ',')
  }
}

module webPubSub 'modules/webpubsub.bicep' = {
  name: 'webpubsub'
  params: {
    name: webPubSubName
    location: location
    tags: tags
    units: webPubSubUnits
    hubName: webPubSubHubName
    eventHandlerHost: functionApp.outputs.defaultHostName
    keyVaultName: keyVault.outputs.name
  }
}

module roleAssignments 'modules/role-assignments.bicep' = {
  name: 'role-assignments'
  params: {
    appPrincipalId: functionApp.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    webPubSubName: webPubSub.outputs.name
    hostContainerNames: hostContainerNames
    materialsContainerName: materialsContainerName
    certificatesContainerName: certificatesContainerName
    privacyExportsContainerName: privacyExportsContainerName
    deploymentContainerName: deploymentContainerName
    queueNames: queueNames
    tableNames: tableNames
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

// Every setting shared_code/settings.py reads, named as in local.settings.sample.json.
// Not here on purpose: FUNCTIONS_WORKER_RUNTIME (Flex Consumption takes the runtime from
// functionAppConfig and rejects the setting), AzureWebJobsStorage (a connection string
// with a key; the identity-based AzureWebJobsStorage__accountName replaces it) and
// AzureWebJobsFeatureFlags (worker indexing is the default for the v2 model).
var appSettings = {
  AzureWebJobsStorage__accountName: storage.outputs.name
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.applicationInsightsConnectionString
  // With host.json's telemetryMode OpenTelemetry: the Python worker makes the host's span of
  // each invocation current, so the app's spans are its children (docs/observability.md).
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
  // Local-only switches: spans go to Application Insights, logs as structured records.
  LECTERN_TRACE_CONSOLE: 'false'
  LECTERN_LOG_FORMAT: ''
  LECTERN_ENV: 'production'
  LECTERN_PUBLIC_BASE_URL: empty(publicBaseUrl) ? 'https://${functionApp.outputs.defaultHostName}' : publicBaseUrl
  LECTERN_CORS_ALLOWED_ORIGINS: corsAllowedOrigins
  LECTERN_MAX_BODY_BYTES: '1048576'
  LECTERN_MAX_JSON_DEPTH: '32'
  // The managed identity signs in to PostgreSQL and Redis with Entra tokens: the URLs
  // name its role and object id and carry no password (shared_code/adapters/identity.py).
  LECTERN_AUTH_MODE: 'identity'
  POSTGRES_URL: 'postgresql://${uriComponent(functionApp.outputs.name)}@${postgres.outputs.host}:5432/${postgres.outputs.databaseName}?sslmode=require'
  POSTGRES_POOL_MIN: '1'
  POSTGRES_POOL_MAX: string(postgresPoolMax)
  REDIS_URL: redis.outputs.appUrl
  LECTERN_MATERIALS_CONTAINER: materialsContainerName
  LECTERN_CERTIFICATES_CONTAINER: certificatesContainerName
  LECTERN_OUTBOX_QUEUE: outboxQueueName
  // Every ten seconds: retries side effects parked in PostgreSQL while Storage was down.
  LECTERN_PARKED_DRAIN_SCHEDULE: '*/10 * * * * *'
  LECTERN_AUDIT_TABLE: auditTableName
  LECTERN_ACCESS_LOG_TABLE: accessLogTableName
  LECTERN_CHANGE_LOG_TABLE: changeLogTableName
  LECTERN_ATTENDANCE_TABLE: attendanceTableName
  LECTERN_ATTENDANCE_FLUSH_SECONDS: '0.5'
  // The REST API is called with the managed identity (LECTERN_AUTH_MODE); the connection
  // string only lends its access key to check the signatures of upstream calls.
  WebPubSubConnectionString: '@Microsoft.KeyVault(SecretUri=${webPubSub.outputs.connectionStringSecretUri})'
  WebPubSubEndpoint: webPubSub.outputs.endpoint
  WebPubSubHub: webPubSubHubName
  WebPubSubTokenMinutes: '60'
  JWT_ISSUER: jwtIssuer
  JWT_AUDIENCE: jwtAudience
  JWT_JWKS_URL: jwtJwksUrl
  // Empty on purpose: in Azure only the issuer's JWKS keys sign tokens. A development
  // secret here would let anyone holding it mint tokens if the JWKS URL were ever unset.
  JWT_DEV_SECRET: ''
  // The development token endpoint is not registered outside development; kept for completeness.
  JWT_DEV_TOKEN_MINUTES: '0'
  // Stored roles are served from Redis for at most this long (role changes rewrite it at once).
  LECTERN_ROLES_CACHE_SECONDS: '30'
  VIDEO_CDN_BASE_URL: videoCdnBaseUrl
  VIDEO_SIGNING_KEY: '@Microsoft.KeyVault(SecretUri=${appSecrets.outputs.videoSigningKeyUri})'
  VIDEO_SIGNING_KEY_ID: videoSigningKeyId
  VIDEO_URL_MINUTES: '60'
  LECTERN_SAS_MINUTES: '10'
  LECTERN_MATERIAL_MAX_BYTES: '209715200'
  LECTERN_MATERIAL_ALLOWED_TYPES: 'application/pdf,image/png,image/jpeg,text/plain,application/zip,application/vnd.openxmlformats-officedocument.presentationml.presentation,application/vnd.openxmlformats-officedocument.wordprocessingml.document'
  LECTERN_CACHE_ENABLED: 'true'
  LECTERN_CACHE_TTL_SECONDS: '300'
  LECTERN_COMPLETION_THRESHOLD: '0.9'
  LECTERN_FLUSH_BATCH_SIZE: '5000'
  LECTERN_FLUSH_SCHEDULE: '*/5 * * * * *'
  // Hourly: deletes uploads never published within a day (the lifecycle rule is the backstop).
  LECTERN_UPLOAD_CLEANUP_SCHEDULE: '0 17 * * * *'
  // Every minute: reminds enrolled students and the tutor of classes starting within ten minutes (once each).
  LECTERN_CLASS_REMINDER_SCHEDULE: '0 * * * * *'
  // Every two minutes: live connections whose disconnected event was lost are let go.
  LECTERN_PRESENCE_SWEEP_SCHEDULE: '30 */2 * * * *'
  // The same sweep ends a live class nobody has been in for this many minutes (0: never).
  LECTERN_LIVE_IDLE_END_MINUTES: '60'
  LECTERN_CLASS_REMINDER_MINUTES: '10'
  LECTERN_QUIZ_MAX_ATTEMPTS: '3'
  LECTERN_CHAT_MAX_LENGTH: '1000'
  LECTERN_BROADCAST_INTERVAL_MS: '250'
  LECTERN_RATE_WRITES_PER_MINUTE: '600'
  LECTERN_RATE_HEARTBEATS_PER_MINUTE: '120'
  LECTERN_RATE_TOKENS_PER_IP_PER_MINUTE: '120'
  LECTERN_RATE_NEGOTIATE_PER_MINUTE: '30'
  LECTERN_RATE_WRITES_PER_IP_PER_MINUTE: '12000'
  LECTERN_RATE_NEGOTIATE_PER_IP_PER_MINUTE: '2000'
  LECTERN_RATE_READS_PER_MINUTE: '1200'
  LECTERN_RATE_READS_PER_IP_PER_MINUTE: '24000'
  LECTERN_TRUSTED_PROXY_HOPS: '1'
  LECTERN_RATE_CHAT_PER_10S: '5'
  LECTERN_RATE_EXPORTS_PER_MINUTE: '6'
  LECTERN_PRIVACY_EXPORT_ROWS: '1000'
  LECTERN_PRIVACY_PARTITIONS_MAX: '5000'
  LECTERN_PRIVACY_EXPORTS_CONTAINER: privacyExportsContainerName
  LECTERN_PRIVACY_EXPORT_DAYS: string(privacyExportDays)
  LECTERN_RATE_VOTES_PER_10S: '10'
  LECTERN_LIVE_MAX_CONNECTIONS_PER_USER: '5'
  // One Standard unit carries 1,000 concurrent connections: no class holds more than the resource can.
  LECTERN_LIVE_MAX_CONNECTIONS_PER_CLASS: string(webPubSubUnits * 1000)
  LECTERN_CONNECTION_STATE_KEY: '@Microsoft.KeyVault(SecretUri=${appSecrets.outputs.connectionStateKeyUri})'
  LECTERN_CALENDAR_FEED_KEY: '@Microsoft.KeyVault(SecretUri=${appSecrets.outputs.calendarFeedKeyUri})'
  // payments (docs/payments.md)
  PAYMENT_DEFAULT_PROVIDER: paymentDefaultProvider
  PAYMENT_DEFAULT_CURRENCY: paymentDefaultCurrency
  PAYMENT_RETURN_URL: paymentReturnUrl
  STRIPE_SECRET_KEY: '@Microsoft.KeyVault(SecretUri=${appSecrets.outputs.stripeSecretKeyUri})'
  PAYMENT_WEBHOOK_SECRETS: '@Microsoft.KeyVault(SecretUri=${appSecrets.outputs.paymentWebhookSecretsUri})'
  PAYMENT_WEBHOOK_TOLERANCE_SECONDS: '300'
  STRIPE_LIVEMODE: string(stripeLivemode)
  // Empty: the providers' own APIs (locally the stand-in in localpay/).
  STRIPE_API_BASE: ''
  RAZORPAY_API_BASE: ''
  RAZORPAY_KEY_ID: razorpayKeyId
  RAZORPAY_KEY_SECRET: '@Microsoft.KeyVault(SecretUri=${appSecrets.outputs.razorpayKeySecretUri})'
  RAZORPAY_WEBHOOK_SECRETS: '@Microsoft.KeyVault(SecretUri=${appSecrets.outputs.razorpayWebhookSecretsUri})'
}

module functionAppSettings 'modules/app-settings.bicep' = {
  name: 'function-app-settings'
  params: {
    appName: functionApp.outputs.name
    settings: appSettings
  }
  // The identity must hold its roles before the settings restart the app, or the Key
  // Vault references and the storage connection fail until the platform retries.
  dependsOn: [
    roleAssignments
  ]
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    tags: tags
    namePrefix: 'lectern-${environmentName}-'
    actionGroupName: actionGroupName
    alertEmail: alertEmail
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    postgresServerId: postgres.outputs.id
    redisId: redis.outputs.id
    redisMetricNamespace: redis.outputs.metricNamespace
    webPubSubId: webPubSub.outputs.id
    healthUrl: 'https://${functionApp.outputs.defaultHostName}/api/health'
    poisonQueueName: '${outboxQueueName}-poison'
    errorRatePercentThreshold: alertErrorRatePercent
    latencyP95MsThreshold: alertLatencyP95Ms
  }
}

module liveClassWorkbook 'modules/workbook.bicep' = {
  name: 'live-class-workbook'
  params: {
    location: location
    tags: tags
    displayName: 'Lectern ${environmentName}: live class'
    applicationInsightsId: monitoring.outputs.applicationInsightsId
  }
}

// --- outputs (azd stores each in .azure/<env>/.env) ----------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output API_BASE_URL string = 'https://${functionApp.outputs.defaultHostName}/api'
output SERVICE_API_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_PRINCIPAL_ID string = functionApp.outputs.principalId
output SERVICE_API_URI string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_WEBPUBSUB_NAME string = webPubSub.outputs.name
output AZURE_WEBPUBSUB_ENDPOINT string = webPubSub.outputs.endpoint
output AZURE_WEBPUBSUB_HUB string = webPubSub.outputs.hubName
output AZURE_POSTGRES_SERVER_NAME string = postgres.outputs.name
output AZURE_POSTGRES_HOST string = postgres.outputs.host
output AZURE_POSTGRES_DATABASE string = postgres.outputs.databaseName
output AZURE_REDIS_NAME string = redis.outputs.name
output AZURE_REDIS_HOST string = redis.outputs.host
output AZURE_REDIS_PORT int = redis.outputs.port
output AZURE_APPLICATION_INSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output AZURE_LOG_ANALYTICS_NAME string = monitoring.outputs.logAnalyticsName
