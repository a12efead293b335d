"""Names of the API group, versions, kinds, labels and annotations (section 1 of the contract).

Everything that a user, a job or another controller can see by name is spelled here once.
"""

GROUP = "asyncaction.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

ACTION_KIND = "AsyncAction"
ACTION_PLURAL = "asyncactions"
ACTION_SINGULAR = "asyncaction"
ACTION_SHORT_NAMES = ["aa"]

QUEUE_KIND = "ActionQueue"
QUEUE_PLURAL = "actionqueues"
QUEUE_SINGULAR = "actionqueue"

TEMPLATE_KIND = "ActionTemplate"
TEMPLATE_PLURAL = "actiontemplates"
TEMPLATE_SINGULAR = "actiontemplate"

DEFAULT_QUEUE = "default"

# Labels put on every child object, so children can be found from the action and back.
LABEL_ACTION_NAME = f"{GROUP}/action-name"
LABEL_ACTION_UID = f"{GROUP}/action-uid"
LABEL_ATTEMPT = f"{GROUP}/attempt"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "asyncaction-operator"
# Put on an action (not a child) by the operator before its first Job when the hook runs
# as several shards: each hook replica watches only the actions labelled with its shard.
LABEL_HOOK_SHARD = f"{GROUP}/hook-shard"

# Key of the per-action secret inside its Secret object.
SECRET_KEY_FIELD = "secretKey"  # noqa: S105 - a key name, not a secret

# Environment variables every container of an action's Job receives (section 2).
ENV_JOB_ID = "JOB_ID"
ENV_JOB_SECRET_KEY = "JOB_SECRET_KEY"  # noqa: S105 - a variable name
ENV_JOB_HOOK = "JOB_HOOK"
# The attempt number, for job code that wants it without calling the hook.
ENV_ATTEMPT = "ASYNCACTION_ATTEMPT"
# Generation of the action a Job was built from.
ANNOTATION_ACTION_GENERATION = f"{GROUP}/action-generation"
# On an attempt's Job: the ActionTemplate defaults that attempt runs with (JSON).
ANNOTATION_TEMPLATE_DEFAULTS = f"{GROUP}/template-defaults"
# On the action's Secret: the attempt whose key it holds (the operator caches no key).
ANNOTATION_KEY_ATTEMPT = f"{GROUP}/key-attempt"
