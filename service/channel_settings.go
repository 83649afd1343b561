package service

import (
	"context"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/parleyhq/parley/domain"
)

// SecretRotationGrace is how long a rotated secret's previous value still
// verifies signatures (Twilio's webhooks, web chat identities), so that
// senders can switch over without refusals.
const SecretRotationGrace = 24 * time.Hour

// Limits of channel settings.
const (
	maxSecretLen      = 256
	minSigningSecret  = 16
	maxAllowedOrigins = 50
)

// SecretInfo describes a stored secret without its value.
type SecretInfo struct {
	Name      domain.SecretName
	UpdatedAt time.Time
	// PreviousValidUntil is set while the value before the last rotation
	// still verifies.
	PreviousValidUntil *time.Time
}

// ChannelSettings are a resource's channel settings as the API shows
// them: which secrets are set (never their values) and the allowed web
// origins.
type ChannelSettings struct {
	Secrets        []SecretInfo
	AllowedOrigins []string
}

// ChannelSettingsInput changes a resource's channel settings; nil fields
// are left as they are.
type ChannelSettingsInput struct {
	// Secrets sets (or rotates) the named secrets.
	Secrets map[domain.SecretName]string
	// AllowedOrigins replaces the web chat's allowed origins (an empty,
	// non-nil slice clears them).
	AllowedOrigins []string
}

// secretsFor lists the secrets a resource kind accepts.
func secretsFor(kind domain.ResourceKind) []domain.SecretName {
	if kind == domain.ResourceSMS {
		return []domain.SecretName{domain.SecretTwilioAccountSID, domain.SecretTwilioAuthToken}
	}
	return []domain.SecretName{domain.SecretWebChatSigning}
}

// checkSettings validates in for a resource of kind, normalizing origins.
// Errors: invalid_argument.
func checkSettings(kind domain.ResourceKind, in ChannelSettingsInput) (ChannelSettingsInput, error) {
	allowed := secretsFor(kind)
	for name, value := range in.Secrets {
		if !slices.Contains(allowed, name) {
			return in, invalidf("a %s resource has no secret %q (it has %s)", kind, name, joinNames(allowed))
		}
		if err := checkText("secrets."+string(name), value, maxSecretLen, false); err != nil {
			return in, err
		}
		if strings.TrimSpace(value) != value || value == "" {
			return in, invalidf("secrets.%s must be a non-empty value without surrounding spaces", name)
		}
		if name == domain.SecretWebChatSigning && len(value) < minSigningSecret {
			return in, invalidf("secrets.%s must be at least %d characters; use a random value", name, minSigningSecret)
		}
	}
	if in.AllowedOrigins == nil {
		return in, nil
	}
	if kind != domain.ResourceWebChat {
		return in, invalidf("allowedOrigins are for webchat resources")
	}
	if len(in.AllowedOrigins) > maxAllowedOrigins {
		return in, invalidf("at most %d allowedOrigins", maxAllowedOrigins)
	}
	origins := make([]string, 0, len(in.AllowedOrigins))
	for _, o := range in.AllowedOrigins {
		norm, err := normalizeOrigin(o)
		if err != nil {
			return in, err
		}
		if !slices.Contains(origins, norm) {
			origins = append(origins, norm)
		}
	}
	in.AllowedOrigins = origins
	return in, nil
}

// normalizeOrigin returns scheme://host[:port] in lower case, or "*".
// Errors: invalid_argument.
func normalizeOrigin(o string) (string, error) {
	if o == "*" {
		return o, nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", invalidf("allowedOrigins: %q is not an origin such as https://shop.example or http://localhost:3000 (or *)", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

func joinNames(names []domain.SecretName) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	return strings.Join(s, ", ")
}

// UpdateChannelSettings sets secrets (a secret set again is rotated: its
// previous value verifies for SecretRotationGrace more) and allowed
// origins. Errors: invalid_argument, not_found (resource).
func (s *Service) UpdateChannelSettings(ctx context.Context, org domain.OrgID, id domain.ResourceID, in ChannelSettingsInput) (ChannelSettings, error) {
	var out ChannelSettings
	err := s.update(ctx, org, func(tx domain.Tx) error {
		res, err := lockResource(ctx, tx, org, id)
		if err != nil {
			return err
		}
		if err := s.applySettings(ctx, tx, res, in); err != nil {
			return err
		}
		out, err = readSettings(ctx, tx, res)
		return err
	})
	return out, err
}

// lockResource reads a channel resource to change it, after locking it
// (writers of one org run in parallel): two changes of one resource, its
// settings or its secrets take turns instead of overwriting each other.
func lockResource(ctx context.Context, tx domain.Tx, org domain.OrgID, id domain.ResourceID) (domain.ChannelResource, error) {
	if err := tx.LockKeys(ctx, org, "resource:"+string(id)); err != nil {
		return domain.ChannelResource{}, err
	}
	return tx.GetResource(ctx, org, id)
}

// applySettings validates and stores in for res in tx.
func (s *Service) applySettings(ctx context.Context, tx domain.Tx, res domain.ChannelResource, in ChannelSettingsInput) error {
	in, err := checkSettings(res.Kind, in)
	if err != nil {
		return err
	}
	current, err := tx.ResourceSecrets(ctx, res.OrgID, res.ID)
	if err != nil {
		return err
	}
	now := s.now()
	names := make([]domain.SecretName, 0, len(in.Secrets))
	for name := range in.Secrets {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		secret := domain.ResourceSecret{OrgID: res.OrgID, ResourceID: res.ID, Name: name, Value: in.Secrets[name], UpdatedAt: now}
		for _, old := range current {
			if old.Name == name && old.Value != secret.Value {
				until := now.Add(SecretRotationGrace)
				secret.Previous, secret.PreviousUntil = old.Value, &until
			}
		}
		if err := tx.PutResourceSecret(ctx, secret); err != nil {
			return err
		}
	}
	if in.AllowedOrigins != nil {
		return tx.SetAllowedOrigins(ctx, res.OrgID, res.ID, in.AllowedOrigins)
	}
	return nil
}

// readSettings returns what the API shows of res's settings.
func readSettings(ctx context.Context, tx domain.Tx, res domain.ChannelResource) (ChannelSettings, error) {
	secrets, err := tx.ResourceSecrets(ctx, res.OrgID, res.ID)
	if err != nil {
		return ChannelSettings{}, err
	}
	origins, err := tx.AllowedOrigins(ctx, res.OrgID, res.ID)
	out := ChannelSettings{Secrets: []SecretInfo{}, AllowedOrigins: origins}
	for _, sec := range secrets {
		out.Secrets = append(out.Secrets, SecretInfo{Name: sec.Name, UpdatedAt: sec.UpdatedAt, PreviousValidUntil: sec.PreviousUntil})
	}
	if out.AllowedOrigins == nil {
		out.AllowedOrigins = []string{}
	}
	return out, err
}

// GetChannelSettings returns a resource's settings without secret values.
// Errors: not_found.
func (s *Service) GetChannelSettings(ctx context.Context, org domain.OrgID, id domain.ResourceID) (out ChannelSettings, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		res, err := tx.GetResource(ctx, org, id)
		if err != nil {
			return err
		}
		out, err = readSettings(ctx, tx, res)
		return err
	})
	return out, err
}

// Channel is what a transport needs to serve a resource: the resource,
// the secret values that verify its requests, and its allowed origins.
// It never leaves the process.
type Channel struct {
	Resource       domain.ChannelResource
	AllowedOrigins []string
	secrets        map[domain.SecretName]domain.ResourceSecret
}

// Secret returns the current value of a secret ("" when unset).
func (c Channel) Secret(name domain.SecretName) string { return c.secrets[name].Value }

// VerifyingSecrets returns the values that verify a signature at now: the
// current one and, within its grace period, the one before the last
// rotation.
func (c Channel) VerifyingSecrets(name domain.SecretName, now time.Time) []string {
	sec, ok := c.secrets[name]
	if !ok {
		return nil
	}
	values := []string{sec.Value}
	if sec.Previous != "" && sec.PreviousUntil != nil && now.Before(*sec.PreviousUntil) {
		values = append(values, sec.Previous)
	}
	return values
}

// Now is the service's clock, for transports that check signatures.
func (s *Service) Now() time.Time { return s.now() }

// LoadChannel returns the resource named by a transport's URL, in
// whichever org it belongs, of the kind the transport serves.
// Errors: not_found (no such resource, or one of another kind).
func (s *Service) LoadChannel(ctx context.Context, id domain.ResourceID, kind domain.ResourceKind) (c Channel, err error) {
	if checkID("resourceId", string(id)) != nil {
		return c, domain.NotFound("resource", id)
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		res, err := tx.LookupResource(ctx, id)
		if err != nil {
			return err
		}
		if res.Kind != kind {
			return domain.Errorf(domain.CodeNotFound, "resource %s is not a %s resource", id, kind)
		}
		secrets, err := tx.ResourceSecrets(ctx, res.OrgID, res.ID)
		if err != nil {
			return err
		}
		c = Channel{Resource: res, secrets: map[domain.SecretName]domain.ResourceSecret{}}
		for _, sec := range secrets {
			c.secrets[sec.Name] = sec
		}
		c.AllowedOrigins, err = tx.AllowedOrigins(ctx, res.OrgID, res.ID)
		return err
	})
	return c, err
}

// String hides the secret values from logs and error messages.
func (c Channel) String() string { return "channel " + string(c.Resource.ID) + " (secrets hidden)" }

// LogValue hides the secret values from slog.
func (c Channel) LogValue() slog.Value { return slog.StringValue(c.String()) }

// ResourceUpdate changes a channel resource; nil fields stay as they are.
type ResourceUpdate struct {
	Name *string
	// Binding, when set, replaces the whole binding (DeploymentID, or
	// AppID and Environment; all empty unbinds).
	Binding    *ResourceBinding
	IdentifyBy *domain.IdentifyBy
	Settings   ChannelSettingsInput
}

// ResourceBinding is what a resource's inbound messages talk to.
type ResourceBinding struct {
	DeploymentID domain.DeploymentID
	AppID        domain.AppID
	Environment  domain.Environment
}

// UpdateResource changes a resource's name, binding, identity rule,
// secrets and allowed origins in one transaction. Conversations already
// started stay where they are; new ones follow the new binding.
// Errors: invalid_argument, not_found (resource).
func (s *Service) UpdateResource(ctx context.Context, org domain.OrgID, id domain.ResourceID, u ResourceUpdate) (res domain.ChannelResource, settings ChannelSettings, err error) {
	if u.Name != nil {
		name, err := cleanName("name", *u.Name)
		if err != nil {
			return res, settings, err
		}
		u.Name = &name
	}
	err = s.update(ctx, org, func(tx domain.Tx) error {
		if res, err = lockResource(ctx, tx, org, id); err != nil {
			return err
		}
		if u.Name != nil {
			res.Name = *u.Name
		}
		if b := u.Binding; b != nil {
			res.DeploymentID, res.AppID, res.Environment = b.DeploymentID, b.AppID, b.Environment
		}
		if u.IdentifyBy != nil {
			res.IdentifyBy = *u.IdentifyBy
		}
		if err := checkBindingFields(res); err != nil {
			return err
		}
		if err := checkBinding(ctx, tx, res); err != nil {
			return err
		}
		if err := tx.UpdateResource(ctx, res); err != nil {
			return err
		}
		if err := s.applySettings(ctx, tx, res, u.Settings); err != nil {
			return err
		}
		settings, err = readSettings(ctx, tx, res)
		return err
	})
	return res, settings, err
}
