-- Argo CD health of an asyncaction.dev AsyncAction (resource.customizations, docs/helm.md).
-- Runs in Argo CD's Lua (5.1 syntax): `obj` is the live object; returns {status, message}.
--   waiting or running (SCHEDULED, QUEUED, STARTING, RUNNING), no status yet: Progressing
--   SUCCEEDED: Healthy          FAILED, TIMEOUT, ABORTED: Degraded          PAUSED: Suspended
local hs = {}
local status = obj.status

if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to accept the action"
  return hs
end

local phase = status.phase
local text = status.message
if text == nil or text == "" then
  text = phase
end

if phase == "SUCCEEDED" then
  hs.status = "Healthy"
  hs.message = text
  return hs
end

if phase == "FAILED" or phase == "TIMEOUT" or phase == "ABORTED" then
  hs.status = "Degraded"
  if status.error ~= nil and status.error.reason ~= nil then
    hs.message = phase .. " (" .. status.error.reason .. "): " .. text
  else
    hs.message = phase .. ": " .. text
  end
  return hs
end

-- A spec change the operator has not seen yet: the phase shown is not an answer to it.
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

if phase == "PAUSED" then
  hs.status = "Suspended"
  hs.message = text
  return hs
end

if phase == "SCHEDULED" or phase == "QUEUED" or phase == "STARTING" or phase == "RUNNING" then
  hs.status = "Progressing"
  if status.progress ~= nil then
    hs.message = phase .. " " .. status.progress .. "%: " .. text
  else
    hs.message = phase .. ": " .. text
  end
  return hs
end

hs.status = "Unknown"
hs.message = "Unknown phase " .. phase
return hs
