# Exchange takes Windows time-zone names ('Pacific Standard Time'). .NET maps them to IANA ids
# through ICU, which is absent when globalization-invariant mode is on (containers, minimal
# distributions), so the common Windows names are mapped here (CLDR windowsZones, territory 001).
$script:WindowsTimeZoneToIana = @{
    'Dateline Standard Time' = 'Etc/GMT+12'; 'UTC-11' = 'Etc/GMT+11'; 'Hawaiian Standard Time' = 'Pacific/Honolulu'
    'Alaskan Standard Time' = 'America/Anchorage'; 'Pacific Standard Time' = 'America/Los_Angeles'
    'US Mountain Standard Time' = 'America/Phoenix'; 'Mountain Standard Time' = 'America/Denver'
    'Central America Standard Time' = 'America/Guatemala'; 'Central Standard Time' = 'America/Chicago'
    'Central Standard Time (Mexico)' = 'America/Mexico_City'; 'Canada Central Standard Time' = 'America/Regina'
    'SA Pacific Standard Time' = 'America/Bogota'; 'Eastern Standard Time' = 'America/New_York'
    'US Eastern Standard Time' = 'America/Indianapolis'; 'Atlantic Standard Time' = 'America/Halifax'
    'SA Western Standard Time' = 'America/La_Paz'; 'Newfoundland Standard Time' = 'America/St_Johns'
    'E. South America Standard Time' = 'America/Sao_Paulo'; 'Argentina Standard Time' = 'America/Buenos_Aires'
    'UTC' = 'Etc/UTC'; 'GMT Standard Time' = 'Europe/London'; 'Greenwich Standard Time' = 'Atlantic/Reykjavik'
    'W. Europe Standard Time' = 'Europe/Berlin'; 'Central Europe Standard Time' = 'Europe/Budapest'
    'Romance Standard Time' = 'Europe/Paris'; 'Central European Standard Time' = 'Europe/Warsaw'
    'W. Central Africa Standard Time' = 'Africa/Lagos'; 'GTB Standard Time' = 'Europe/Bucharest'
    'E. Europe Standard Time' = 'Europe/Chisinau'; 'FLE Standard Time' = 'Europe/Kiev'
    'Israel Standard Time' = 'Asia/Jerusalem'; 'South Africa Standard Time' = 'Africa/Johannesburg'
    'Egypt Standard Time' = 'Africa/Cairo'; 'Turkey Standard Time' = 'Europe/Istanbul'
    'Russian Standard Time' = 'Europe/Moscow'; 'Arab Standard Time' = 'Asia/Riyadh'
    'Arabian Standard Time' = 'Asia/Dubai'; 'Iran Standard Time' = 'Asia/Tehran'
    'Pakistan Standard Time' = 'Asia/Karachi'; 'India Standard Time' = 'Asia/Calcutta'
    'Nepal Standard Time' = 'Asia/Katmandu'; 'Bangladesh Standard Time' = 'Asia/Dhaka'
    'SE Asia Standard Time' = 'Asia/Bangkok'; 'China Standard Time' = 'Asia/Shanghai'
    'Singapore Standard Time' = 'Asia/Singapore'; 'W. Australia Standard Time' = 'Australia/Perth'
    'Taipei Standard Time' = 'Asia/Taipei'; 'Tokyo Standard Time' = 'Asia/Tokyo'; 'Korea Standard Time' = 'Asia/Seoul'
    'Cen. Australia Standard Time' = 'Australia/Adelaide'; 'AUS Central Standard Time' = 'Australia/Darwin'
    'E. Australia Standard Time' = 'Australia/Brisbane'; 'AUS Eastern Standard Time' = 'Australia/Sydney'
    'West Pacific Standard Time' = 'Pacific/Port_Moresby'; 'New Zealand Standard Time' = 'Pacific/Auckland'
}

function Find-MigTimeZone {
    <#
    .SYNOPSIS
    A TimeZoneInfo for a Windows or IANA time-zone name; throws when neither is known.
    #>
    [CmdletBinding()]
    [OutputType([System.TimeZoneInfo])]
    param([Parameter(Mandatory)][string]$Name)
    try { return [System.TimeZoneInfo]::FindSystemTimeZoneById($Name) }
    catch {
        $iana = $null
        if ($script:WindowsTimeZoneToIana.ContainsKey($Name)) { $iana = $script:WindowsTimeZoneToIana[$Name] }
        elseif (-not [System.TimeZoneInfo]::TryConvertWindowsIdToIanaId($Name, [ref]$iana)) { throw }
        [System.TimeZoneInfo]::FindSystemTimeZoneById($iana)
    }
}
