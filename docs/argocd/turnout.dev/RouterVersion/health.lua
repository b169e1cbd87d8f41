-- Argo CD health of a Turnout RouterVersion (resource.customizations.health.turnout.dev_RouterVersion).
-- A RouterVersion mirrors one recorded version; spec.status is its state in the
-- versions database: pending, deployed, failed or undeployed.
local state = obj.spec and obj.spec.status
local version = obj.spec and obj.spec.version and tostring(obj.spec.version) or "?"
if state == "deployed" then
  return {status = "Healthy", message = "version " .. version .. " is serving"}
end
if state == "undeployed" then
  return {status = "Healthy", message = "version " .. version .. " no longer serves"}
end
if state == "failed" then
  return {status = "Degraded", message = "version " .. version .. " failed: " .. (obj.spec.error or "no reason recorded")}
end
if state == "pending" then
  return {status = "Progressing", message = "version " .. version .. " is rolling out"}
end
return {status = "Unknown", message = "unknown version state " .. tostring(state)}
