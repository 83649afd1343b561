package service

import (
	"context"

	"github.com/parleyhq/parley/domain"
)

// ResourceInput configures a channel resource.
type ResourceInput struct {
	Kind domain.ResourceKind
	Name string
	// Address is the SMS number (normalized to E.164) or the web chat
	// widget key.
	Address string
	// The binding: a fixed deployment, or an app and environment (then the
	// resource follows whatever is published there). Both empty: unbound.
	DeploymentID domain.DeploymentID
	AppID        domain.AppID
	Environment  domain.Environment
	// IdentifyBy is none (the default) or destination (SMS only: the
	// sender is identified as tel: + their number).
	IdentifyBy domain.IdentifyBy
}

// CreateResource configures a channel resource: an SMS number (kind "sms")
// or a web chat widget (kind "webchat"), optionally bound to a deployment
// or to an app and environment. Errors: invalid_argument (fields, a
// binding that names no deployment or app of the org).
func (s *Service) CreateResource(ctx context.Context, org domain.OrgID, in ResourceInput) (domain.ChannelResource, error) {
	r, err := s.checkResource(in)
	if err != nil {
		return r, err
	}
	r.ID, r.OrgID, r.CreatedAt = domain.ResourceID(s.ids.NewID("res")), org, s.now()
	return r, s.update(ctx, org, func(tx domain.Tx) error {
		if err := checkBinding(ctx, tx, r); err != nil {
			return err
		}
		if err := tx.CreateResource(ctx, r); err != nil {
			return err
		}
		return s.answer(ctx, tx, r)
	})
}

// checkResource validates the fields of a resource that need no store.
func (s *Service) checkResource(in ResourceInput) (domain.ChannelResource, error) {
	name, err := cleanName("name", in.Name)
	if err != nil {
		return domain.ChannelResource{}, err
	}
	address := in.Address
	switch in.Kind {
	case domain.ResourceSMS:
		address, err = s.phoneNumber("address", address)
	case domain.ResourceWebChat:
		address, err = cleanName("address", address)
	default:
		err = invalidf("kind must be sms or webchat")
	}
	if err != nil {
		return domain.ChannelResource{}, err
	}
	r := domain.ChannelResource{
		Kind: in.Kind, Name: name, Address: address, DeploymentID: in.DeploymentID,
		AppID: in.AppID, Environment: in.Environment, IdentifyBy: in.IdentifyBy,
	}
	if r.IdentifyBy == "" {
		r.IdentifyBy = domain.IdentifyByNone
	}
	return r, checkBindingFields(r)
}

// checkBindingFields checks the shape of a resource's binding and identity.
func checkBindingFields(r domain.ChannelResource) error {
	switch r.IdentifyBy {
	case domain.IdentifyByNone:
	case domain.IdentifyByDestination:
		if r.Kind != domain.ResourceSMS {
			return invalidf("identifyBy destination is for sms resources (the sender's number); a web chat visitor is identified by a signed customer identifier")
		}
	default:
		return invalidf("identifyBy must be none or destination")
	}
	switch {
	case r.DeploymentID != "" && r.AppID != "":
		return invalidf("bind a resource to a deploymentId or to an appId and environment, not both")
	case r.DeploymentID != "":
		if r.Environment != "" {
			return invalidf("environment goes with appId, not with deploymentId")
		}
		return checkID("deploymentId", string(r.DeploymentID))
	case r.AppID != "":
		if !domain.ValidEnvironment(r.Environment) {
			return invalidf("environment must be development, qa or production")
		}
		return checkID("appId", string(r.AppID))
	case r.Environment != "":
		return invalidf("environment needs an appId")
	}
	return nil
}

// checkBinding checks that a resource's binding names a deployment or an
// app of its org. Errors: invalid_argument.
func checkBinding(ctx context.Context, tx domain.Tx, r domain.ChannelResource) error {
	if r.DeploymentID != "" {
		_, err := tx.GetDeployment(ctx, r.OrgID, r.DeploymentID)
		if domain.IsNotFound(err) {
			return invalidf("deploymentId %s does not name a deployment", r.DeploymentID)
		}
		return err
	}
	if r.AppID != "" {
		_, err := tx.GetApp(ctx, r.OrgID, r.AppID)
		if domain.IsNotFound(err) {
			return invalidf("appId %s does not name an app", r.AppID)
		}
		return err
	}
	return nil
}

// GetResource returns a channel resource. Errors: not_found.
func (s *Service) GetResource(ctx context.Context, org domain.OrgID, id domain.ResourceID) (r domain.ChannelResource, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		r, err = tx.GetResource(ctx, org, id)
		return err
	})
	return r, err
}

// ListResources returns the org's channel resources.
func (s *Service) ListResources(ctx context.Context, org domain.OrgID) (rs []domain.ChannelResource, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		rs, err = tx.ListResources(ctx, org)
		return err
	})
	return rs, err
}
