// Azure Database for PostgreSQL Flexible Server holding Lectern's core data (database
// `lectern`). The app signs in with its managed identity (Entra ID authentication), as a
// role that owns only the app's schema (created after provisioning, docs/DEPLOY.md); the
// administrator password stays in Key Vault for break-glass use and first setup.

param name string
param location string
param tags object

@description('Administrator login name.')
param administratorLogin string

@secure()
@description('Administrator password; also stored in Key Vault.')
param administratorPassword string

@description('Compute SKU, e.g. Standard_B2s (Burstable), Standard_D2ds_v5 (GeneralPurpose).')
param skuName string

@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param skuTier string

@description('Storage size in GiB; autogrow is on, so this is the starting size.')
param storageSizeGB int

@description('Zone-redundant high availability (a standby in another zone). Not available on the Burstable tier.')
param zoneRedundantHa bool

@description('Geo-redundant backups. Can only be chosen when the server is created.')
param geoRedundantBackup bool

@minValue(7)
@maxValue(35)
param backupRetentionDays int

@description('Deploy one read replica (asynchronous streaming replication) beside the primary.')
param readReplica bool = false

@description('Region of the read replica; empty for the primary\'s region.')
param readReplicaLocation string = ''

@description('Enabled: public endpoint with a firewall rule for Azure services. Disabled: private access through delegatedSubnetId and privateDnsZoneId.')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string

@description('Public access only: address ranges ({start, end}) the firewall admits; Azure services as a whole never.')
param allowedIpRanges array = []

@description('Subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers (private access only).')
param delegatedSubnetId string = ''

@description('Private DNS zone for the server name (private access only).')
param privateDnsZoneId string = ''

@description('Object id of an Entra ID user, group or service principal made PostgreSQL administrator; empty for none.')
param entraAdminObjectId string = ''

@description('Display name (user principal name, group or app name) of that Entra ID administrator.')
param entraAdminName string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param entraAdminType string = 'User'

param databaseName string = 'lectern'
param keyVaultName string

var isPublic = publicNetworkAccess == 'Enabled'
var publicNetwork = {
  publicNetworkAccess: 'Enabled'
}
var privateNetwork = {
  publicNetworkAccess: 'Disabled'
  delegatedSubnetResourceId: delegatedSubnetId
  privateDnsZoneArmResourceId: privateDnsZoneId
}

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: '16'
    administratorLogin: administratorLogin
    administratorLoginPassword: administratorPassword
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Enabled'
      tenantId: tenant().tenantId
    }
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: backupRetentionDays
      geoRedundantBackup: geoRedundantBackup ? 'Enabled' : 'Disabled'
    }
    highAvailability: {
      mode: zoneRedundantHa ? 'ZoneRedundant' : 'Disabled'
    }
    network: isPublic ? publicNetwork : privateNetwork
  }
}

// A replica copies the primary's data, network and authentication settings; high
// availability and backups belong to the primary (a promoted replica gets its own).
resource replica 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = if (readReplica) {
  name: '${name}-replica'
  location: empty(readReplicaLocation) ? location : readReplicaLocation
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    createMode: 'Replica'
    sourceServerResourceId: server.id
    version: '16'
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: backupRetentionDays
      geoRedundantBackup: geoRedundantBackup ? 'Enabled' : 'Disabled'
    }
    network: isPublic ? publicNetwork : privateNetwork
  }
  dependsOn: [
    database
  ]
}

// No rule admits all of Azure any more: with public access the server answers only the
// addresses listed (operators' machines for migrations). The app reaches the server
// privately (publicNetworkAccess Disabled, the default layout), since Flex Consumption has
// no fixed outbound addresses to list.
resource allowedRanges 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = [
  for (range, i) in (isPublic ? allowedIpRanges : []): {
    parent: server
    name: 'allowed-${i}'
    properties: {
      startIpAddress: range.start
      endIpAddress: range.end
    }
  }
]

// Server parameters are applied one after another (dependsOn): the server rejects
// concurrent configuration updates.
resource requireSecureTransport 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'require_secure_transport'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [
    allowedRanges
  ]
}

// Extensions the migrations create must be allow-listed on Flexible Server: pg_trgm for the
// admin user search (migration 0058).
resource allowedExtensions 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'azure.extensions'
  properties: {
    value: 'PG_TRGM'
    source: 'user-override'
  }
  dependsOn: [
    requireSecureTransport
  ]
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  dependsOn: [
    allowedExtensions
  ]
}

resource entraAdmin 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = if (!empty(entraAdminObjectId)) {
  parent: server
  name: empty(entraAdminObjectId) ? 'none' : entraAdminObjectId
  properties: {
    principalName: entraAdminName
    principalType: entraAdminType
    tenantId: tenant().tenantId
  }
  dependsOn: [
    database
  ]
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// Read back by `azd provision` (secretOrRandomPassword in main.parameters.json) so a
// second provision keeps the same password instead of generating a new one.
resource adminPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:No expiry on purpose: azd reads this secret back on every provision to keep the administrator password, and the app's POSTGRES_URL is built from it; an expired secret would make the next provision generate a new password. Rotation follows docs/DEPLOY.md.
  parent: vault
  name: 'postgres-admin-password'
  properties: {
    value: administratorPassword
    contentType: 'text/plain; PostgreSQL administrator password'
  }
}

// The password is percent-encoded: a generated one may hold characters that mean
// something in a URL.
resource urlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:No expiry on purpose: the app reads this secret through a versionless Key Vault reference, and an expiry date would make the reference stop resolving and take the app down at that moment; rotation follows docs/DEPLOY.md instead.
  parent: vault
  name: 'postgres-url'
  properties: {
    value: 'postgresql://${uriComponent(administratorLogin)}:${uriComponent(administratorPassword)}@${server.properties.fullyQualifiedDomainName}:5432/${databaseName}?sslmode=require'
    contentType: 'text/plain; PostgreSQL connection URL for the app'
  }
}

output id string = server.id
output name string = server.name
output host string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
output urlSecretUri string = urlSecret.properties.secretUri
output replicaHost string = readReplica ? replica.properties.fullyQualifiedDomainName : ''
