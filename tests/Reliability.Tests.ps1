#Requires -Version 7.4
# What an admin sees when a target refuses part of a mailbox, and the stall limits of
# Set-MigrationConfig, through the real module, library and worker: a throwaway Dovecot as the
# source, a second one as the target behind the testkit's refusing proxy (CREATE and SELECT of
# the folder Archive answered NO [CANNOT]), one worker for the file.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestStack.ps1')
    $script:SkipReason = Get-MigTestStackSkipReason
    $script:Skip = [bool]$SkipReason
}

Describe 'Reliability prerequisites' {
    It 'has the native library, the worker and the testkit' {
        if ($SkipReason -and $env:IMAPMIGRATION_REQUIRE_INTEGRATION -eq '1') { throw "integration prerequisites missing: $SkipReason" }
        if ($SkipReason) { Set-ItResult -Skipped -Because $SkipReason }
    } -TestCases @{ SkipReason = $SkipReason }
}

Describe 'Reliability through the library' -Skip:$Skip {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'TestStack.ps1')
        # Each user's mailbox is the testkit's 'small' profile: 60 messages, 10 of them in Archive.
        $script:Passwords = [ordered]@{ rita = 'rita-pw-31'; sam = 'sam-pw-47' }
        $script:Stack = Start-MigTestStack -Users $Passwords -Name reliability
        $spec = ($Passwords.Keys | ForEach-Object { "$($_):$($Passwords[$_])" }) -join ','
        $script:TargetDir = Join-Path $Stack.Work 'target'
        $script:Target = & $Stack.Testkit start --dir $TargetDir --users $spec --json | Out-String | ConvertFrom-Json
        if ($LASTEXITCODE -ne 0) { throw "imapmig-testkit start (target) failed (exit $LASTEXITCODE)" }
        $out = Join-Path $Stack.Work 'refuse.json'
        $script:Refusing = Start-Process -FilePath $Stack.Testkit -PassThru -RedirectStandardOutput $out `
            -ArgumentList @('proxy', 'refuse', '--upstream', "127.0.0.1:$($Target.imapPort)", '--create', 'Archive')
        $deadline = (Get-Date).AddSeconds(20)
        while (-not (Test-Path $out) -or -not (Get-Content $out -Raw)) {
            if ((Get-Date) -gt $deadline) { throw 'the refusing proxy did not report its port' }
            Start-Sleep -Milliseconds 100
        }
        $port = (Get-Content $out -Raw | ConvertFrom-Json).port
        $null = New-MigrationEndpoint -IMAP -Name Source -RemoteServer 127.0.0.1 -Port $Stack.Server.imapPort -Security None -SkipVerification -ErrorAction Stop
        $null = New-MigrationEndpoint -IMAP -Name Refusing -RemoteServer 127.0.0.1 -Port $port -Security None `
            -TargetUserTemplate '{UserName}' -SkipVerification -ErrorAction Stop
        function New-RefusedBatch([string]$Name, [string]$User, [object]$BadItemLimit) {
            $csv = New-MigTestCsv -Rows @{ $User = $Passwords[$User] }
            $null = New-MigrationBatch -Name $Name -SourceEndpoint Source -TargetEndpoint Refusing -CSVData $csv `
                -BadItemLimit $BadItemLimit -AutoStart -ErrorAction Stop
            Wait-MigBatch -Identity $Name -TimeoutSeconds 180
        }
    }

    AfterAll {
        if ($script:Refusing) { Stop-Process -Id $Refusing.Id -Force -ErrorAction SilentlyContinue }
        if ($Stack) { $null = & $Stack.Testkit stop --dir $TargetDir 2>&1 }
        Stop-MigTestStack $Stack
    }

    Context 'a folder the target refuses' {
        It 'leaves the user Synced with the folder''s messages as BadItems in the server''s words' {
            $b = New-RefusedBatch -Name Refused -User rita -BadItemLimit 50
            $b.Status | Should -Be 'Synced'
            $s = Get-MigrationUserStatistics -Identity rita@contoso.test -IncludeSkippedItems
            $s.Status | Should -Be 'Synced'
            $s.SkippedItemCount | Should -Be 10
            $s.SyncedItemCount | Should -Be 50
            $items = @($s.SkippedItems)
            $items.Count | Should -Be 10
            $items | ForEach-Object {
                $_.Kind | Should -Be 'BadItem'
                $_.FolderName | Should -Be 'Archive'
                $_.Failure | Should -Match 'CANNOT'
                $_.Failure | Should -Match 'not permitted here'
            }
            # Every other folder is on the target, Archive is not.
            $counts = & $Stack.Testkit snapshot --dir $TargetDir --user rita --counts | Out-String | ConvertFrom-Json
            $counts.messageCount | Should -Be 50
            $counts.folders.PSObject.Properties.Name | Should -Not -Contain 'Archive'
        }

        It 'fails the user past -BadItemLimit and the batch is SyncedWithErrors' {
            $b = New-RefusedBatch -Name OverLimit -User sam -BadItemLimit 3
            $b.Status | Should -Be 'SyncedWithErrors'
            $b.FailedCount | Should -Be 1
            $u = Get-MigrationUser -Identity sam@contoso.test
            $u.Status | Should -Be 'Failed'
            "$($u.ErrorSummary)" | Should -Match 'limit'
        }
    }

    Context 'the stall limits of Set-MigrationConfig' {
        It 'Get-MigrationConfig shows the defaults, then what Set-MigrationConfig stored' {
            $c = Get-MigrationConfig
            $c.ConnectTimeout | Should -Be ([timespan]::FromSeconds(15))
            $c.GreetingTimeout | Should -Be ([timespan]::FromSeconds(30))
            $c.TlsTimeout | Should -Be ([timespan]::FromSeconds(30))
            $c.LoginTimeout | Should -Be ([timespan]::FromSeconds(60))
            $c.IdleTimeout | Should -Be ([timespan]::FromSeconds(60))
            $c.MinTransferRate | Should -Be 1024
            Set-MigrationConfig -ConnectTimeout 5 -IdleTimeout (New-TimeSpan -Minutes 2) -MinTransferRate '512 KB' -ErrorAction Stop
            $c = Get-MigrationConfig
            $c.ConnectTimeout | Should -Be ([timespan]::FromSeconds(5))
            $c.IdleTimeout | Should -Be ([timespan]::FromMinutes(2))
            $c.MinTransferRate | Should -Be 524288
            Set-MigrationConfig -ConnectTimeout $null -IdleTimeout $null -MinTransferRate $null -ErrorAction Stop
            $c = Get-MigrationConfig
            $c.ConnectTimeout | Should -Be ([timespan]::FromSeconds(15))
            $c.IdleTimeout | Should -Be ([timespan]::FromSeconds(60))
            $c.MinTransferRate | Should -Be 1024
        }

        It 'refuses -<Name> <Shown>, naming the parameter, and keeps the stored value' -ForEach @(
            @{ Name = 'ConnectTimeout'; Value = 0; Shown = '0' }
            @{ Name = 'LoginTimeout'; Value = (New-TimeSpan -Hours 2); Shown = '2 hours' }
            @{ Name = 'MinTransferRate'; Value = '1 TB'; Shown = '1 TB' }
        ) {
            Set-MigrationConfig -LoginTimeout 45 -ErrorAction Stop
            $before = Get-MigrationConfig
            $parameters = @{ $Name = $Value; ErrorAction = 'Stop' }
            { Set-MigrationConfig @parameters } | Should -Throw -ExpectedMessage "*$Name*"
            (Get-MigrationConfig).$Name | Should -Be $before.$Name
            Set-MigrationConfig -LoginTimeout $null -ErrorAction Stop
        }
    }
}
