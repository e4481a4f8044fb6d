// Key Vault for every secret the app reads. Access is by Azure RBAC only (no access
// policies): the function app's identity gets Key Vault Secrets User in
// role-assignments.bicep, and app settings point at secrets with Key Vault references.

@description('Key Vault name (3-24 characters).')
@minLength(3)
@maxLength(24)
param name string

param location string
param tags object

@description('Purge protection: a deleted vault or secret cannot be purged before the retention ends. Leave on in production; turn off only for throwaway environments whose names must be reusable at once.')
param enablePurgeProtection bool = true

@description('Days a deleted vault or secret stays recoverable.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  //checkov:skip=CKV_AZURE_109:The Flex Consumption app (no virtual network in the default layout) resolves its Key Vault references from outbound addresses that are not fixed, so a firewall allow-list cannot name them; access is by Azure RBAC only.
  //checkov:skip=CKV_AZURE_189:Same reason as CKV_AZURE_109: Key Vault references are resolved over the public endpoint; every read needs an Entra ID identity holding a Key Vault role.
  //checkov:skip=CKV_AZURE_110:Purge protection is the parameter enablePurgeProtection, true by default (keyVaultPurgeProtection in main.bicep); the check cannot evaluate the parameter. It is off only in throwaway environments.
  //checkov:skip=CKV_AZURE_42:Soft delete is always on; the check also requires purge protection, which is the parameter above (true by default) and cannot be evaluated here.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // Purge protection can be switched on but never off again, so "off" is sent as null.
    enablePurgeProtection: enablePurgeProtection ? true : null
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
