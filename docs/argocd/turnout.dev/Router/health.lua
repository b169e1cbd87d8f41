-- Argo CD health of a Turnout Router (resource.customizations.health.turnout.dev_Router).
-- Reads what the operator writes: observedGeneration, phase and the conditions
-- Ready, Reconciling and Stalled (docs/health.md has the mapping).
local hs = {status = "Progressing", message = "Waiting for the operator to reconcile the Router"}
if obj.status == nil then
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and (obj.status.observedGeneration == nil or obj.status.observedGeneration < generation) then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end
local conditions = {}
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    conditions[condition.type] = condition
  end
end
local message = obj.status.message or ""
if obj.status.phase == "Undeployed" then
  return {status = "Suspended", message = message}
end
if conditions.Stalled ~= nil and conditions.Stalled.status == "True" then
  return {status = "Degraded", message = message}
end
if conditions.Reconciling ~= nil and conditions.Reconciling.status == "True" then
  return {status = "Progressing", message = message}
end
if conditions.Ready ~= nil and conditions.Ready.status == "True" then
  return {status = "Healthy", message = message}
end
if conditions.Ready ~= nil then
  return {status = "Degraded", message = message}
end
return hs
