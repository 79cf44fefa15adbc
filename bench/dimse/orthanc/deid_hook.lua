-- A de-identification hook in the shape of the one in the system aisedge
-- replaces (docs/compat.md), written for the C-STORE benchmark: for every instance received over DICOM, copy the original to
-- a facility backup (mkdir -p, a temporary file, sync, mv -f: three shell
-- commands), anonymize it through Orthanc's REST API, delete the original
-- and store the anonymized copy. A line is appended to DONE_FILE when an
-- instance is finished, so the benchmark can time "until de-identified".
-- BACKUP_DIR and DONE_FILE are substituted by cstore_bench.sh.

local backupDir = 'BACKUP_DIR'
local doneFile = 'DONE_FILE'

-- Only the characters the original allowed in path parts.
local function part(s)
  if s == nil or s == '' then return 'UNKNOWN' end
  return (string.gsub(s, '[^%w%.%-_]', '_'))
end

function OnStoredInstance(instanceId, tags, metadata, origin)
  if origin ~= nil and origin['RequestOrigin'] ~= 'DicomProtocol' then
    return
  end
  local original = RestApiGet('/instances/' .. instanceId .. '/file')
  local dir = backupDir .. '/' .. part(tags['PatientID']) .. '/' .. part(tags['StudyInstanceUID']) ..
    '/' .. part(tags['SeriesInstanceUID'])
  local path = dir .. '/' .. part(tags['SOPInstanceUID']) .. '.dcm'
  os.execute('mkdir -p "' .. dir .. '"')
  local f = io.open(path .. '.tmp', 'wb')
  f:write(original)
  f:close()
  os.execute('sync')
  os.execute('mv -f "' .. path .. '.tmp" "' .. path .. '"')

  local request = {
    Replace = { PatientName = 'ANONYMIZED', PatientID = 'SUBJECT' },
    Keep = { 'SeriesDescription', 'StudyDescription', 'ProtocolName' },
    Force = true,
  }
  local anonymized = RestApiPost('/instances/' .. instanceId .. '/anonymize', DumpJson(request, true))
  RestApiDelete('/instances/' .. instanceId)
  RestApiPost('/instances', anonymized)

  local d = io.open(doneFile, 'a')
  d:write(instanceId .. '\n')
  d:close()
end
