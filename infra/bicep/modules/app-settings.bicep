// Writes the function app's app settings in one piece. Kept apart from function-app.bicep
// so main.bicep can apply it after the role assignments: Key Vault references resolve at
// once instead of failing until the platform's next refresh.

param appName string

@description('Every app setting, name to value (Key Vault references for secrets).')
param settings object

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: appName
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  //checkov:skip=CKV_AZURE_66:This resource is only the appsettings section of the site; the check inspects web configuration properties, which live on the site in function-app.bicep. Failed-request tracing is an IIS feature of App Service plans; the Functions host reports failed requests to Application Insights.
  //checkov:skip=CKV_AZURE_63:This resource is only the appsettings section of the site; the check inspects web configuration properties, which live on the site in function-app.bicep. Request logs go to Application Insights (APPLICATIONINSIGHTS_CONNECTION_STRING).
  //checkov:skip=CKV_AZURE_65:This resource is only the appsettings section of the site; the check inspects web configuration properties, which live on the site in function-app.bicep. Detailed error pages are an IIS feature; the app answers errors as problem+json and logs them to Application Insights.
  //checkov:skip=CKV_AZURE_80:This resource is only the appsettings section of the site; the check inspects web configuration properties, which live on the site in function-app.bicep. The app runs Python 3.13, not .NET.
  //checkov:skip=CKV_AZURE_13:This resource is only the appsettings section of the site; the check inspects web configuration properties, which live on the site in function-app.bicep. App Service Authentication would block the anonymous endpoints the app must serve (health, payment webhook, Web PubSub events); the app verifies bearer JWTs against the issuer's JWKS itself.
  //checkov:skip=CKV_AZURE_88:This resource is only the appsettings section of the site; the check inspects web configuration properties, which live on the site in function-app.bicep. The app mounts no Azure Files share; Flex Consumption runs from its deployment container.
  //checkov:skip=CKV_AZURE_222:This resource is only the appsettings section of the site; the check inspects web configuration properties, which live on the site in function-app.bicep. Public network access is decided on the site, see the skip there.
  parent: app
  name: 'appsettings'
  properties: settings
}
