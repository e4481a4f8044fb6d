// The function app on the Flex Consumption plan (Linux, Python 3.13) with a system-assigned
// identity. App settings are not set here but in app-settings.bicep, after the identity has
// been granted access to Key Vault and storage, so the first start already resolves its
// Key Vault references.

param planName string
param appName string
param location string
param tags object

@description('Storage account holding the host state and the deployment container.')
param storageAccountName string

@description('Blob container the deployment package is uploaded to.')
param deploymentContainerName string

@description('Instances kept warm for HTTP triggers (0 for none). Billed while idle.')
@minValue(0)
param alwaysReadyInstances int

@description('Most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('HTTP requests one instance serves at a time (Python\'s platform default is 1); the platform scales out past it.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int

@description('Spread instances across availability zones (only in regions where Flex Consumption supports it).')
param zoneRedundant bool = false

@description('Origins the platform answers CORS for (preflights included); the app adds no CORS headers of its own.')
param corsAllowedOrigins array = []

@description('Subnet delegated to Microsoft.App/environments for virtual network integration; empty for none.')
param subnetId string = ''

// One entry for the HTTP trigger group when warm instances are wanted, none otherwise.
var alwaysReady = [
  for group in (alwaysReadyInstances > 0 ? ['http'] : []): {
    name: group
    instanceCount: alwaysReadyInstances
  }
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225:Zone redundancy is the parameter zoneRedundant (functionZoneRedundant in main.bicep), off by default because Flex Consumption offers it only in some regions; the check cannot evaluate the parameter.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_222:The app is the public API: browsers, the payment provider's webhooks and Web PubSub's upstream calls reach it over the internet; every call is authenticated by a bearer JWT, a webhook signature or the ce-signature.
  //checkov:skip=CKV_AZURE_17:None of the callers (browsers, the payment provider, Web PubSub upstream) present client certificates; they authenticate with bearer JWTs and signatures instead.
  //checkov:skip=CKV_AZURE_212:numberOfWorkers is an App Service plan setting; Flex Consumption scales by functionAppConfig.scaleAndConcurrency (alwaysReady instances and maximumInstanceCount), and keeps serving from other instances when one fails.
  //checkov:skip=CKV_AZURE_213:App Service health check (evicting an instance that fails a probe) is a Dedicated/Premium plan feature; here GET /api/health is probed by an Application Insights availability test with an alert (alerts.bicep).
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: empty(subnetId) ? null : subnetId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // The platform answers CORS, preflights included, for the allow-list
      // (LECTERN_CORS_ALLOWED_ORIGINS); locally the host does the same from Host.CORS.
      cors: {
        allowedOrigins: corsAllowedOrigins
        supportCredentials: false
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        alwaysReady: alwaysReady
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        // The app is async throughout: one instance serves many requests at once. Without
        // this, Python apps get one request per instance and scale out for every second
        // concurrent caller. The value comes from bench/concurrency.py (docs/CAPACITY.md).
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      // Python 3.13: its worker runs the app on uvloop and on the runtime package that
      // requirements.txt pins (azure-functions-runtime); the local host follows the same
      // version (scripts/find_python.sh) and loop (devhost/event_loop.py).
      runtime: {
        name: 'python'
        version: '3.13'
      }
    }
  }
}

// Deployments go through Entra ID (azd, Core Tools); no basic-auth publishing credentials.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = app.id
output name string = app.name
output principalId string = app.identity.principalId
output defaultHostName string = app.properties.defaultHostName
