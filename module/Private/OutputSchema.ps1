# The property order of every output type (docs/compatibility.md §7.8): Exchange's schema order
# with Identity first, then the properties Exchange does not have (ours, §7 and the README table).
# Format-List with no property list, Format-List *, Format-Table *, Select-Object * and
# Export-Csv all follow it. A property the engine returns that is not listed here follows the
# listed ones in the engine's order, so a new engine property still shows, after the others.

$script:MigPropertyOrder = @{
    'ImapMigration.MigrationBatch'                        = @(
        'Identity', 'Status', 'State', 'Flags', 'WorkflowStage', 'BatchGuid',
        'TotalCount', 'ActiveCount', 'StoppedCount', 'SyncedCount', 'FinalizedCount', 'FailedCount',
        'FailedInitialSyncCount', 'FailedIncrementalSyncCount', 'CompletedWithWarningCount', 'PendingCount',
        'ProvisionedCount', 'ValidationWarningCount', 'ValidationWarnings', 'Message', 'DataConsistencyScore',
        'CreationDateTime', 'CreationDateTimeUTC', 'StartDateTime', 'StartDateTimeUTC',
        'InitialSyncDateTime', 'InitialSyncDateTimeUTC', 'LastSyncedDateTime', 'LastSyncedDateTimeUTC',
        'FinalizedDateTime', 'FinalizedDateTimeUTC', 'SubmittedByUser', 'NotificationEmails', 'ExcludedFolders',
        'MigrationType', 'BatchDirection', 'Reports', 'Report', 'AllowUnknownColumnsInCsv', 'DiagnosticInfo',
        'SupportedActions', 'SourceEndpoint', 'TargetEndpoint', 'TargetDeliveryDomain', 'BadItemLimit',
        'LargeItemLimit', 'ReportInterval', 'SkipReports', 'StartAfter', 'StartAfterUTC', 'CompleteAfter',
        'CompleteAfterUTC', 'TimeZone',
        # ours
        'Name', 'IncludedFolders', 'ContentFilter', 'AutoStart', 'NextSyncDateTime', 'NextSyncDateTimeUTC',
        'TargetMaildir', 'ItemsTotal', 'ItemsSynced', 'ItemsSkipped', 'BytesSynced', 'MaxMessageSize'
    )
    'ImapMigration.MigrationUser'                         = @(
        'Identity', 'Identifier', 'EmailAddress', 'RecipientType', 'SkippedItemCount', 'SyncedItemCount',
        'BatchId', 'Status', 'StatusSummary', 'State', 'Flags', 'ErrorSummary', 'DataConsistencyScore',
        'HasUnapprovedSkippedItems', 'MigrationType', 'LastSuccessfulSyncTime', 'LastSubscriptionCheckTime',
        # ours
        'Guid', 'UserName', 'UserRoot', 'RowIndex', 'TotalItemsInSourceMailboxCount', 'ErrorType',
        'SyncedFolderCount', 'InitialSyncTime', 'StartTime', 'SyncPasses'
    )
    'ImapMigration.MigrationEndpoint'                     = @(
        'Identity', 'EndpointType', 'RemoteServer', 'Port', 'Security', 'Authentication',
        'AcceptUntrustedCertificates', 'MaxConcurrentMigrations', 'MaxConcurrentIncrementalSyncs',
        'MailboxPermission', 'Guid', 'CreationDateTime', 'CreationDateTimeUTC',
        # ours
        'Name', 'CaFile', 'HasCredentials', 'AdminUserName', 'TargetLogin', 'MasterUserSeparator',
        'OAuthTokenEndpoint', 'OAuthClientId', 'OAuthScope', 'TargetUserTemplate', 'MaxConnectionsPerUser',
        'PreserveOrder', 'DisableCompression', 'VerifyContent'
    )
    'ImapMigration.MigrationStatistics'                   = @(
        'Identity', 'TotalCount', 'ActiveCount', 'StoppedCount', 'SyncedCount', 'FinalizedCount', 'FailedCount',
        'PendingCount', 'ProvisionedCount', 'MigrationType'
    )
    'ImapMigration.MigrationConfig'                       = @(
        'Identity', 'MaxNumberOfBatches', 'MaxConcurrentMigrations', 'Features', 'CanSubmitNewBatch', 'SupportsCutover',
        # ours
        'DefaultTargetEndpoint', 'SmtpRelay', 'IncrementalSyncIntervalSecs', 'MemoryBudget', 'MaildirRoot', 'ConnectTimeout',
        'GreetingTimeout', 'TlsTimeout', 'LoginTimeout', 'IdleTimeout', 'MinTransferRate', 'Home', 'Workers',
        'ConsoleListen', 'ConsoleCertificate', 'ConsoleKey', 'HasConsolePassword'
    )
    'ImapMigration.MigrationWorker'                       = @(
        'Host', 'Pid', 'Version', 'StartTime', 'HeartbeatTime', 'Alive'
    )
    'ImapMigration.MigrationConsole'                      = @(
        'Url', 'Address', 'Tls', 'ExpiresAt'
    )
    'ImapMigration.TestMigrationServerAvailabilityResult' = @(
        'Result', 'Message', 'ErrorDetail', 'ConnectionSettings', 'SupportsCutover'
    )
    'ImapMigration.MigrationReportSet'                    = @('CreationTimeUTC', 'SuccessUrl', 'ErrorUrl')
    'ImapMigration.MigrationReportEntry'                  = @('CreationTime', 'CreationTimeUTC', 'Level', 'Message')
    'ImapMigration.MigrationBatchError'                   = @('RowIndex', 'EmailAddress', 'LocalizedErrorMessage')
    'ImapMigration.MigrationSkippedItem'                  = @(
        'Kind', 'FolderName', 'Subject', 'Sender', 'Recipient', 'DateSent', 'DateReceived', 'MessageSize',
        'Failure', 'ScoringClassifications',
        # ours
        'CreationTime'
    )
}

# The statistics of a user are the user's properties, then the transfer figures.
$script:MigPropertyOrder['ImapMigration.MigrationUserStatistics'] = @($script:MigPropertyOrder['ImapMigration.MigrationUser']) + @(
    'EstimatedTotalTransferSize', 'EstimatedTotalTransferCount', 'BytesTransferred', 'PercentageComplete', 'Error',
    'SkippedItems', 'Report', 'DiagnosticInfo'
)
