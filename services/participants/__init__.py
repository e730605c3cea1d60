"""The participants' pages: the public application forms, the pages behind the personal links
of every e-mail (questionnaires, session declarations, networking events) and the self-service
data rights. No sign-in: a personal link is the credential, bound to one person, one purpose
and one object (:mod:`services.common.links`). The pages call the services' APIs, so every
rule stays where it lives."""
